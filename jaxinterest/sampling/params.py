"""`SamplingParams`: the generation options every caller of `generate` passes as one value.

GRPO rollouts, distillation, best-of-N and the server all describe a request the same way, so
the options live in one frozen, hashable dataclass (usable as a dict key or a static jit
argument) and are validated once, when it is built.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterest.sampling.filters import SamplingMode


def _is_int(x) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_real(x) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to sample continuations of a prompt.

    max_new_tokens  tokens generated per row at most (a stop token ends a row earlier).
    temperature     0 = greedy; otherwise logits are divided by it before the filters.
    top_p           nucleus mass kept, in (0, 1]; 1 = off.
    top_k           number of most likely tokens kept; 0 = off.
    stop_ids        token ids that end a row (included in its output), e.g. EOS, <|im_end|>.
    num_samples     continuations per prompt (G, the GRPO group size).

    Ints and floats are normalised (numpy scalars to Python, `stop_ids` to a sorted tuple of
    distinct ints), so equal options compare and hash equal.
    """

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop_ids: tuple[int, ...] = ()
    num_samples: int = 1

    def __post_init__(self) -> None:
        if not _is_int(self.max_new_tokens) or self.max_new_tokens <= 0:
            raise ValueError(
                f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}"
            )
        if not _is_int(self.num_samples) or self.num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {self.num_samples!r}")
        if not _is_real(self.temperature) or not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature!r}")
        if not _is_real(self.top_p) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not _is_int(self.top_k) or self.top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 = off), got {self.top_k!r}")
        stop = () if self.stop_ids is None else self.stop_ids
        if isinstance(stop, str | bytes) or not all(_is_int(t) for t in np.ravel(stop)):
            raise ValueError(f"stop_ids must be a sequence of integer token ids, got {stop!r}")
        normal = {
            "max_new_tokens": int(self.max_new_tokens),
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "top_k": int(self.top_k),
            "stop_ids": tuple(sorted({int(t) for t in np.ravel(stop)})),
            "num_samples": int(self.num_samples),
        }
        for name, value in normal.items():
            object.__setattr__(self, name, value)

    @property
    def greedy(self) -> bool:
        """Temperature 0: the most likely token at every step."""
        return self.temperature == 0

    def mode(self, vocab_size: int) -> SamplingMode:
        """The static part (what changes the compiled program) for a vocabulary of this size.

        Filters that cannot change the draw are switched off: top-k and top-p under greedy,
        top_k >= V (it keeps everything, without a full-vocabulary `top_k`), top_p = 1.
        """
        return SamplingMode(
            greedy=self.greedy,
            top_k=self.top_k if not self.greedy and self.top_k < vocab_size else 0,
            use_top_p=not self.greedy and self.top_p < 1,
        )
