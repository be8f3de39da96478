"""Log-probs of given token sequences with their top-k alternatives: the server's
`prompt_logprobs` / `echo` scoring (what a remote teacher is asked for) and the alternatives
listed beside generated tokens.

One jitted forward pass per batch of right-padded sequences; the [B, T, V] log-softmax stays on
the device and only [B, T] chosen log-probs and ranks and [B, T, k] alternatives come back.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.sampling import bucket, right_pad, token_log_softmax


@functools.partial(jax.jit, static_argnames=("cfg", "k"))
def _score(params, tokens, mask, *, cfg, k: int):
    """tokens, mask [B, T] -> chosen [B, T], rank [B, T] (1 = most likely), top-k log-probs and
    ids [B, T, k]. Entry t is about token t given tokens[:, :t] (entry 0 is meaningless)."""
    logp = token_log_softmax(params, tokens, mask, cfg)  # [B, T, V] float32
    chosen = jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
    rank = 1 + jnp.sum(logp > chosen[..., None], axis=-1, dtype=jnp.int32)
    top_lp, top_ids = jax.lax.top_k(logp, max(k, 1))
    return chosen, rank, top_lp[..., :k], top_ids[..., :k]


@dataclasses.dataclass(frozen=True)
class TokenScores:
    """One sequence of length T: entry t scores token t given the tokens before it (entry 0,
    with no context, is not meaningful and is reported as None by the server)."""

    logprobs: np.ndarray  # [T] float32
    ranks: np.ndarray  # [T] int32, 1 = the model's most likely token
    top_logprobs: np.ndarray  # [T, k] float32, best first
    top_ids: np.ndarray  # [T, k] int32


def score_sequences(params, cfg, seqs: list[list[int]], k: int, pad_id: int = 0, rows: int = 16):
    """TokenScores of every sequence (prompt + completion token ids), `rows` per pass."""
    out = []
    for start in range(0, len(seqs), rows):
        part = seqs[start : start + rows]
        b = bucket(len(part), minimum=1)
        width = bucket(max(len(s) for s in part))
        tokens, mask = right_pad(part + [[pad_id]] * (b - len(part)), width, pad_id)
        chosen, rank, top_lp, top_ids = jax.device_get(
            _score(params, jnp.asarray(tokens), jnp.asarray(mask), cfg=cfg, k=int(k))
        )
        for i, s in enumerate(part):
            n = len(s)
            out.append(TokenScores(chosen[i, :n], rank[i, :n], top_lp[i, :n], top_ids[i, :n]))
    return out
