"""Coarse compiled shapes for long-lived callers (the server), and host-side cache assembly.

`generate`'s default shapes pad little (rows in 1, 2, 3, 4, 6, 8, ... buckets, prefill groups
at eight widths per octave, every group shape part of the `assemble` program's signature), which
suits a training loop whose calls repeat the same shapes. A server sees a different batch in
every call: there those shapes rarely repeat and nearly every call compiles. `ShapeBuckets`
trades a little padding for a small, fixed set of programs:

  decode rows        powers of two (1, 2, 4, ..., 64)
  decode prompt P    powers of two >= `prompt_width` (the C++ decode kernels attend over each
                     row's real slots only, so a wide P costs memory, not compute)
  decode new N       powers of two >= `new_tokens` (the loop stops at the call's own
                     max_new_tokens and on EOS, so a wide N costs memory only)
  prefill groups     `group` rows, width a multiple of 64 (a power-of-two quarter above 512)

and the prefill groups are stacked into the decode cache on the host (`assemble_on_host`, pure
data movement, the same values `engine.assemble` computes) instead of one program per tuple of
group shapes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterest.sampling.inputs import bucket
from jaxinterest.sampling.step import slot_axes


def power_of_two(n: int, minimum: int = 1) -> int:
    """Smallest power of two >= max(n, minimum)."""
    n = max(int(n), int(minimum), 1)
    return 1 << (n - 1).bit_length()


@dataclasses.dataclass(frozen=True)
class ShapeBuckets:
    """The coarse shape rules above. Frozen and hashable."""

    prompt_width: int = 256
    new_tokens: int = 64

    def __post_init__(self) -> None:
        for name in ("prompt_width", "new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ShapeBuckets.{name} must be a positive int, got {value!r}")

    def rows(self, n: int) -> int:
        return power_of_two(n)

    def prompt(self, longest: int) -> int:
        return power_of_two(longest, self.prompt_width)

    def new(self, max_new_tokens: int) -> int:
        return power_of_two(max_new_tokens, self.new_tokens)

    @staticmethod
    def group(longest: int, prompt: int) -> int:
        """Prefill width of a group whose longest prompt has `longest` tokens."""
        width = -(-max(longest, 1) // 64) * 64 if longest <= 512 else bucket(longest)
        return min(prompt, width)


def assemble_on_host(
    parts: list, logits: list, *, repeat: int, prompt_len: int, cache_len: int, backend: str
):
    """`engine.assemble` in numpy: each group's cache slots shifted right to end at
    `prompt_len` (zeros before, and after up to `cache_len`), groups stacked, every row repeated
    `repeat` times. Same arguments and result layout; the values are copied, not computed."""
    axes = slot_axes(backend)
    caches = []
    for layer in range(len(parts[0])):
        pair = []
        for j in (0, 1):
            pieces = [np.asarray(group[layer][j]) for group in parts]
            axis = axes[j]
            shape = list(pieces[0].shape)
            shape[0] = sum(x.shape[0] for x in pieces)
            shape[axis] = cache_len
            out = np.zeros(shape, pieces[0].dtype)
            row = 0
            for x in pieces:
                where = [slice(None)] * out.ndim
                where[0] = slice(row, row + x.shape[0])
                where[axis] = slice(prompt_len - x.shape[axis], prompt_len)
                out[tuple(where)] = x
                row += x.shape[0]
            pair.append(np.repeat(out, repeat, axis=0) if repeat > 1 else out)
        caches.append(tuple(pair))
    stacked = np.concatenate([np.asarray(x) for x in logits], axis=0)
    return tuple(caches), np.repeat(stacked, repeat, axis=0) if repeat > 1 else stacked
