"""The one-token decode step, laid out for speed on CPU.

`models.qwen2.forward_with_cache` keeps the cache stacked as [L, B, S, K, H] and scans over
layers: right for prefill, but in a decode step it copies the whole cache twice (scan outputs
are fresh buffers, and the [B, S, K, H] layout needs a transpose before the batched matmuls).
Here each layer owns its cache buffer, laid out [R, K, S, H] so that the attention matmuls
read it as is, and the layers are unrolled, so the only cache traffic is the attention read
plus a one-slot in-place write. Measured on tiny-5m, batch 32: 6 ms/step instead of 20.

The arithmetic is the model's own (its RMSNorm, RoPE tables, MLP and LM head), so the step
matches `forward` token for token; tests compare it against transformers.

Legend as in model.py, R = decode rows (B * G).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2 import Qwen2Config, logits_from_hidden
from jaxinterest.models.qwen2.model import _mlp, rms_norm, rope, rope_tables

_MASKED = -1e30  # as in model.py: finite, so a fully masked row cannot produce NaN


def split_layers(params) -> list:
    """Per-layer parameter trees from the stacked [L, ...] leaves (do this once, outside the
    decode loop, so the loop body never slices weights)."""
    n = jax.tree.leaves(params["layers"])[0].shape[0]
    return [jax.tree.map(lambda a, i=i: a[i], params["layers"]) for i in range(n)]


def caches_from_stacked(stacked: dict) -> tuple:
    """[L, B, S, K, H] {"k", "v"} (forward_with_cache's layout) -> per-layer (k, v) pairs,
    each [B, K, S, H]."""
    k = jnp.swapaxes(stacked["k"], 2, 3)
    v = jnp.swapaxes(stacked["v"], 2, 3)
    return tuple((k[i], v[i]) for i in range(k.shape[0]))


def decode_step(params, layers, caches, tokens, positions, slot, kv_valid, cfg: Qwen2Config):
    """One new token per row.

    layers: `split_layers(params)`; caches: per-layer (k, v) [R, K, S, H]; tokens, positions:
    [R] int; slot: scalar cache slot the new key/value go to (same for every row); kv_valid:
    [R, S] bool, slots holding real tokens (including `slot`). Later slots are masked too.
    Returns (logits [R, V] float32, new caches).
    """
    x = params["embed"]["embedding"][tokens][:, None, :]  # [R, 1, D]
    tables = rope_tables(positions[:, None], cfg.head_dim, cfg.rope_theta, x.dtype)
    s = jnp.arange(kv_valid.shape[1])
    bias = jnp.where(kv_valid & (s[None, :] <= slot), 0.0, _MASKED)[:, None, None, :]  # R11S
    r, k_heads, h = tokens.shape[0], cfg.num_kv_heads, cfg.head_dim
    groups = cfg.num_heads // k_heads
    new_caches = []
    for lp, (cache_k, cache_v) in zip(layers, caches, strict=True):
        y = rms_norm(x, lp["attn_norm"]["scale"], cfg.rms_norm_eps)
        q = jnp.einsum("btd,dnh->btnh", y, lp["q"]["kernel"])
        k = jnp.einsum("btd,dkh->btkh", y, lp["k"]["kernel"])
        v = jnp.einsum("btd,dkh->btkh", y, lp["v"]["kernel"])
        if cfg.qkv_bias:
            q, k, v = q + lp["q"]["bias"], k + lp["k"]["bias"], v + lp["v"]["bias"]
        q, k = rope(q, tables), rope(k, tables)
        # [R, 1, K, H] -> [R, K, 1, H], written at `slot` in place.
        start = (0, 0, slot, 0)
        cache_k = jax.lax.dynamic_update_slice(
            cache_k, jnp.swapaxes(k, 1, 2).astype(cache_k.dtype), start
        )
        cache_v = jax.lax.dynamic_update_slice(
            cache_v, jnp.swapaxes(v, 1, 2).astype(cache_v.dtype), start
        )
        new_caches.append((cache_k, cache_v))
        q = q.reshape(r, k_heads, groups, h)  # [R, K, G, H]
        scores = jnp.einsum(
            "rkgh,rksh->rkgs", q, cache_k.astype(x.dtype), preferred_element_type=jnp.float32
        )
        probs = jax.nn.softmax(scores * (h**-0.5) + bias, axis=-1).astype(x.dtype)
        out = jnp.einsum("rkgs,rksh->rkgh", probs, cache_v.astype(x.dtype))  # [R, K, G, H]
        out = out.reshape(r, 1, cfg.num_heads, h)
        x = x + jnp.einsum("btnh,nhd->btd", out, lp["o"]["kernel"])
        x = x + _mlp(lp, rms_norm(x, lp["mlp_norm"]["scale"], cfg.rms_norm_eps))
    x = rms_norm(x, params["final_norm"]["scale"], cfg.rms_norm_eps)
    return logits_from_hidden(params, x, cfg)[:, 0], tuple(new_caches)
