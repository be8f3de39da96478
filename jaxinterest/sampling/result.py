"""What `generate` returns: host numpy arrays, one row per (prompt, sample)."""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxinterest.sampling.inputs import pack


@dataclasses.dataclass(frozen=True)
class Generation:
    """Rows are prompt-major: row r holds sample r % G of prompt `prompt_index[r]` = r // G.

    tokens        [R, N] int32, the generated tokens; the EOS that ended a row is included,
                  everything after it is pad_id.
    logprobs      [R, N] float32, log-prob of each token under the distribution sampled from
                  (temperature/top-k/top-p applied; 0 for greedy). 0 after the end.
    logprobs_raw  [R, N] float32, log-prob under the raw model (temperature 1, no filter).
    lengths       [R] int32, generated tokens per row (EOS included).
    finished      [R] bool, whether the row ended with an EOS (else it hit max_new_tokens).
    prompt_index  [R] int32, index of the row's prompt in the input list.
    """

    tokens: np.ndarray
    logprobs: np.ndarray
    logprobs_raw: np.ndarray
    lengths: np.ndarray
    finished: np.ndarray
    prompt_index: np.ndarray
    num_samples: int = 1

    def completions(self, strip_eos: bool = False) -> list[list[int]]:
        """Token-id list of each row (without padding; without the final EOS if strip_eos)."""
        out = []
        for toks, n, fin in zip(self.tokens, self.lengths, self.finished, strict=True):
            n = int(n) - (1 if strip_eos and fin else 0)
            out.append([int(t) for t in toks[:n]])
        return out

    def texts(self, tokenizer, skip_special_tokens: bool = True) -> list[str]:
        """Decoded text of each row, the EOS left out. `tokenizer` needs `.decode(ids, ...)`."""
        return [
            tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
            for ids in self.completions(strip_eos=True)
        ]

    def packed(self, prompts, pad_id: int, prompt_width: int | None = None) -> dict:
        """Prompt + completion of every row in one [R, P + N] layout (see `inputs.pack`), e.g.
        for a GRPO step or `score_arrays`. `prompts` is the list given to `generate`."""
        rows = [list(prompts[i]) for i in self.prompt_index]
        return pack(rows, self.completions(), pad_id, prompt_width, self.tokens.shape[1])
