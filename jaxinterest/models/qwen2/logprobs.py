"""Per-token log-probs of given token sequences: what policy-gradient and distillation losses,
pi_old / pi_ref recomputation and `sampling.score` are built on.

All functions are pure, jittable and differentiable, and take the packed [B, T] layout of
`sampling.pack` / `Generation.packed` (padding on either side). Entry t of every output is
about token t given tokens[:, :t]; entry 0 has no context and is 0. Softmax in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2.config import Qwen2Config
from jaxinterest.models.qwen2.model import forward


def token_log_softmax(params, tokens, attention_mask, cfg: Qwen2Config) -> jax.Array:
    """[B, T, V] float32: entry t is log p(. | tokens[:, :t]), the distribution token t was
    drawn from. Entry 0 has no context and is all zeros."""
    logits = forward(params, tokens, cfg, attention_mask=attention_mask)  # [B, T, V] f32
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.concatenate([jnp.zeros_like(logp[:, :1]), logp[:, :-1]], axis=1)


def gather_logprobs(log_softmax, tokens, target_mask) -> jax.Array:
    """[B, T] entry t = log_softmax[b, t, tokens[b, t]] where target_mask, else 0.

    log_softmax: [B, T, V] from `token_log_softmax`; tokens, target_mask: [B, T].
    """
    picked = jnp.take_along_axis(log_softmax, tokens[..., None].astype(jnp.int32), axis=-1)
    return jnp.where(target_mask.astype(bool), picked[..., 0], 0.0)


def token_logprobs(params, tokens, attention_mask, target_mask, cfg: Qwen2Config) -> jax.Array:
    """[B, T] float32 log p(tokens[:, t] | tokens[:, :t]) where target_mask, else 0.

    tokens, attention_mask, target_mask: [B, T] (the masks bool or 0/1).
    """
    return gather_logprobs(
        token_log_softmax(params, tokens, attention_mask, cfg), tokens, target_mask
    )
