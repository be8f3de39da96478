"""Sentence pooling and the classifier head used by noise cleaning.

Legend: B batch, T tokens, D hidden, C classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.encoder.config import EncoderConfig
from jaxinterest.models.encoder.model import forward


def mean_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """Mean of the hidden states over real tokens. hidden [B, T, D], mask [B, T] -> [B, D].

    The count is clamped at 1e-9 (as sentence-transformers does) so an all-pad row (used to fill
    a batch to its bucket size) gives zeros instead of NaN.
    """
    m = attention_mask.astype(hidden.dtype)[..., None]  # [B, T, 1]
    return (hidden * m).sum(1) / jnp.maximum(m.sum(1), 1e-9)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    """x / max(||x||, eps) over the last axis (torch.nn.functional.normalize's definition)."""
    norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=-1, keepdims=True))
    return x / jnp.maximum(norm, eps)


def sentence_embedding(
    params,
    input_ids,
    attention_mask,
    cfg: EncoderConfig,
    token_type_ids=None,
    normalize: bool = True,
) -> jax.Array:
    """Mean-pooled (and by default L2-normalised) sentence embeddings, float32 [B, D]."""
    hidden = forward(params, input_ids, attention_mask, cfg, token_type_ids)
    pooled = mean_pool(hidden, attention_mask)
    return l2_normalize(pooled) if normalize else pooled


def init_head(key: jax.Array, cfg: EncoderConfig, num_labels: int = 2, std: float = 0.02) -> dict:
    """Classifier head params: {"w": [D, C], "b": [C]} (logical axes ("embed", "classes"))."""
    return {
        "w": std * jax.random.normal(key, (cfg.hidden_size, num_labels), jnp.float32),
        "b": jnp.zeros((num_labels,), jnp.float32),
    }


def head_axes() -> dict:
    """Logical axis names of the head params."""
    return {"w": ("embed", "classes"), "b": ("classes",)}


def classify_logits(
    params, head, input_ids, attention_mask, cfg: EncoderConfig, token_type_ids=None
) -> jax.Array:
    """Logits [B, C] of a dense layer on the mean-pooled (un-normalised) encoder output.

    Pure and differentiable in both `params` and `head`, so a training loop can fine-tune the
    whole encoder or only the head (stop_gradient on params).
    """
    pooled = sentence_embedding(
        params, input_ids, attention_mask, cfg, token_type_ids, normalize=False
    )
    return pooled @ head["w"] + head["b"]
