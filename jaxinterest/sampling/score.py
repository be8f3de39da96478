"""Log-probs of given completions in one forward pass (teacher / pi_old / pi_ref side).

`score` is the host convenience over lists of token ids; `score_arrays` its jitted core over
the packed [B, T] layout of `inputs.pack`. The pure per-token functions a train step uses
(`token_logprobs`, `token_log_softmax`) live with the model in `models.qwen2.logprobs`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np

from jaxinterest.models.qwen2 import Qwen2Config, gather_logprobs, token_log_softmax
from jaxinterest.sampling.inputs import as_token_lists, bucket, check_tokens, pack


@functools.partial(jax.jit, static_argnames=("cfg", "full"))
def score_arrays(params, tokens, attention_mask, target_mask, *, cfg: Qwen2Config, full=False):
    """Jitted scorer: (logprobs [B, T], full log-softmax [B, T, V] or None)."""
    logp = token_log_softmax(params, tokens, attention_mask, cfg)
    return gather_logprobs(logp, tokens, target_mask), (logp if full else None)


class Scores(NamedTuple):
    """logprobs [B, C] (0 past each completion's length), lengths [B], and optionally the full
    log-softmax [B, C, V] of each completion position (None unless asked for)."""

    logprobs: np.ndarray
    lengths: np.ndarray
    full_logprobs: np.ndarray | None = None


def score(
    params,
    cfg: Qwen2Config,
    prompts,
    completions,
    *,
    return_full_logprobs: bool = False,
    pad_id: int = 0,
    batch_rows: int = 64,
) -> Scores:
    """Per-token log-probs of each completion given its prompt (one prompt per completion).

    Sequences are packed as `generate` lays them out (prompt left-padded, completion after
    it) with bucketed widths, `batch_rows` rows per forward pass.
    """
    prompts = as_token_lists(prompts)
    completions = as_token_lists(completions, what="completion")
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError(f"prompt {i} is empty")
    check_tokens(prompts, cfg.vocab_size)
    check_tokens(completions, cfg.vocab_size, what="completion")
    c_width = max(len(c) for c in completions)
    lengths = np.asarray([len(c) for c in completions], np.int32)
    logprobs = np.zeros((len(prompts), c_width), np.float32)
    full = (
        np.zeros((len(prompts), c_width, cfg.vocab_size), np.float32)
        if return_full_logprobs
        else None
    )
    for start in range(0, len(prompts), batch_rows):
        sl = slice(start, start + batch_rows)
        ps, cs = prompts[sl], completions[sl]
        n = len(ps)
        rows = bucket(n, minimum=1)
        ps, cs = ps + [[pad_id]] * (rows - n), cs + [[]] * (rows - n)
        p_width = bucket(max(len(p) for p in ps))
        batch = pack(ps, cs, pad_id, p_width, bucket(max(1, c_width)))
        lp, lsm = score_arrays(
            params,
            batch["tokens"],
            batch["attention_mask"],
            batch["completion_mask"],
            cfg=cfg,
            full=return_full_logprobs,
        )
        logprobs[sl] = np.asarray(lp)[:n, p_width : p_width + c_width]
        if full is not None:
            full[sl] = np.asarray(lsm)[:n, p_width : p_width + c_width]
    return Scores(logprobs, lengths, full)
