"""Position-wise building blocks of the Qwen2 decoder: RMSNorm and rotary embeddings.

Shared by the full forward (`model.py`), the attention functions (`attention.py`), the
sampler's decode step and the CPU kernels' reference, so every path does the same arithmetic.
Numerics follow HF transformers' Qwen2: norm statistics and RoPE angles in float32 (at least),
the norm weight and the rotation applied in the activation dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def wide(dtype) -> jnp.dtype:
    """At least float32: the precision for norms, softmax and logits (float64 stays float64,
    which lets tests compare against a float64 reference)."""
    return jnp.promote_types(dtype, jnp.float32)


def rms_norm(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    """RMSNorm with float32 statistics; the weight multiplies in the input dtype, as HF does."""
    x32 = x.astype(wide(x.dtype))
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return scale * normed.astype(x.dtype)


def rope_tables(positions: jax.Array, head_dim: int, theta: float, dtype) -> tuple:
    """cos and sin tables [B, T, 1, H] for the rotate-half RoPE layout, computed in float32
    (bf16 positions would alias beyond 256) and cast to the activation dtype."""
    w = wide(dtype)
    inv_freq = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=w) / head_dim))
    angles = positions.astype(w)[..., None] * inv_freq  # [B, T, H/2]
    angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]  # [B, T, 1, H]
    return jnp.cos(angles).astype(dtype), jnp.sin(angles).astype(dtype)


def rope(x: jax.Array, tables: tuple) -> jax.Array:
    """Applies rotary embedding to x [..., heads, H] with (cos, sin) tables that broadcast
    against it (from `rope_tables`: [B, T, 1, H] for x [B, T, heads, H])."""
    cos, sin = tables
    h = x.shape[-1]
    x1, x2 = x[..., : h // 2], x[..., h // 2 :]
    return x * cos + jnp.concatenate([-x2, x1], axis=-1) * sin
