"""Decode-step attention: the C++ CPU kernel and its pure-JAX statement.

Both functions take one layer's fused q/k/v projection for one new token per row and return
the attention output and the updated caches. `decode_attention_reference` says what the
kernel computes in plain jnp; the tests hold the kernel to it, and it documents the contract:

  qkv     [R, (N + 2K) * H] float32  q heads, then k heads, then v heads (bias added, no RoPE)
  cos/sin [R, H]                     RoPE tables at each row's new position
  keys    [R, K, S, H]               values [R, K, S, H]
  lo      [R] int32                  first cache slot row r attends to (its left padding ends)
  slot    scalar int32               slot of the new token; row r attends to [lo_r, slot]

Returns (out [R, N * H], keys, values) with the rotated new key and the new value written at
`slot`. Head n of `out` is query head n (kv head n // G).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.kernels import build
from jaxinterest.models.qwen2 import attend, attention_bias, rope, split_qkv

TARGET = "jaxinterest_decode_attention"
MAX_HEAD_DIM = 256


def kernel_available() -> bool:
    """True when the compiled CPU kernel is loaded (compiling it on the first call)."""
    return build.library() is not None


def unsupported_reason(head_dim: int, dtype) -> str | None:
    """Why the kernel cannot serve this layer shape / dtype, or None if it can."""
    if jnp.dtype(dtype) != jnp.float32:
        return f"the kernel is float32 only, got {jnp.dtype(dtype).name}"
    if head_dim % 8 or head_dim > MAX_HEAD_DIM:
        return f"the kernel needs head_dim a multiple of 8 up to {MAX_HEAD_DIM}, got {head_dim}"
    if not kernel_available():
        return build.status()
    return None


def _check(qkv, cos, sin, keys, values, lo, heads: int, kv_heads: int) -> None:
    r, k_heads, _, h = keys.shape
    if values.shape != keys.shape:
        raise ValueError(f"keys {keys.shape} and values {values.shape} differ")
    if k_heads != kv_heads or heads % kv_heads:
        raise ValueError(f"{heads} heads over {kv_heads} kv heads; caches hold {k_heads}")
    if qkv.shape != (r, (heads + 2 * kv_heads) * h):
        raise ValueError(f"qkv {qkv.shape}, expected {(r, (heads + 2 * kv_heads) * h)}")
    if cos.shape != (r, h) or sin.shape != (r, h) or lo.shape != (r,):
        raise ValueError(f"cos {cos.shape} / sin {sin.shape} / lo {lo.shape} for {r} rows")


def decode_attention(qkv, cos, sin, keys, values, lo, slot, *, heads: int, kv_heads: int):
    """The CPU kernel (see the module doc). Call inside jit with the caches donated or carried
    through a loop so XLA can update them in place."""
    _check(qkv, cos, sin, keys, values, lo, heads, kv_heads)
    reason = unsupported_reason(keys.shape[-1], keys.dtype)
    if reason:
        raise ValueError(f"decode attention kernel unavailable: {reason}")
    f32 = jnp.float32
    call = jax.ffi.ffi_call(
        TARGET,
        (
            jax.ShapeDtypeStruct((qkv.shape[0], heads * keys.shape[-1]), f32),
            jax.ShapeDtypeStruct(keys.shape, f32),
            jax.ShapeDtypeStruct(values.shape, f32),
        ),
        input_output_aliases={3: 1, 4: 2},
    )
    return call(
        qkv.astype(f32),
        cos.astype(f32),
        sin.astype(f32),
        keys,
        values,
        lo.astype(jnp.int32),
        jnp.asarray(slot, jnp.int32).reshape(()),
        heads=np.int64(heads),
        kv_heads=np.int64(kv_heads),
        scale=np.float32(keys.shape[-1] ** -0.5),
    )


def decode_attention_reference(qkv, cos, sin, keys, values, lo, slot, *, heads: int, kv_heads: int):
    """What `decode_attention` computes, stated with the model's own RoPE and attention
    (`models.qwen2.attend`, float32 softmax) in the kernel's cache layout."""
    _check(qkv, cos, sin, keys, values, lo, heads, kv_heads)
    r, _, s, h = keys.shape
    q, k, v = split_qkv(qkv, heads, kv_heads, h)  # [R, N, H], [R, K, H], [R, K, H]
    tables = (cos[:, None, :], sin[:, None, :])
    q, k = rope(q, tables), rope(k, tables)
    keys = jax.lax.dynamic_update_slice(keys, k[:, :, None].astype(keys.dtype), (0, 0, slot, 0))
    values = jax.lax.dynamic_update_slice(
        values, v[:, :, None].astype(values.dtype), (0, 0, slot, 0)
    )
    valid = jnp.arange(s)[None, :] >= jnp.clip(lo, 0, slot)[:, None]  # [R, S]; attend caps at slot
    bias = attention_bias(jnp.full((r, 1), slot), valid)  # [R, 1, 1, 1, S]
    to_bskh = (0, 2, 1, 3)  # [R, K, S, H] -> [R, S, K, H]
    out = attend(q[:, None], keys.transpose(to_bskh), values.transpose(to_bskh), bias)
    return out.reshape(r, heads * h).astype(qkv.dtype), keys, values
