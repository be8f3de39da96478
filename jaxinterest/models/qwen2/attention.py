"""Grouped-query attention of the Qwen2 decoder, stated once.

The model's forward (prefill, training), the sampler's pure-JAX decode step and the CPU
decode kernel's reference all take their mask constant, q/k/v layout and attention from here;
the C++ kernel is tested against that reference.

Legend as in model.py: B batch, T queries, S key slots, N query heads, K kv heads,
G = N // K query heads per kv head, H head dim; R = decode rows.

Fused projection layout (`fuse_qkv` / `split_qkv`): the q heads, then the k heads, then the
v heads along the last axis, [..., (N + 2K) * H]; one matmul per layer at decode time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2.layers import wide

# A large finite negative instead of -inf: a fully masked row (a pad query) then softmaxes to a
# uniform distribution instead of NaN, and NaN cannot leak into gradients. exp(MASKED - max)
# is exactly 0 in float32, so a row with any visible key is the same as with -inf.
MASKED = -1e30


def fuse_qkv(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """q [..., N, H], k and v [..., K, H] (projection kernels [D, ., H] or biases [., H])
    -> [..., (N + 2K) * H] in the fused layout."""
    return jnp.concatenate([x.reshape(*x.shape[:-2], -1) for x in (q, k, v)], axis=-1)


def split_qkv(qkv: jax.Array, heads: int, kv_heads: int, head_dim: int) -> tuple:
    """[..., (N + 2K) * H] fused projection -> (q [..., N, H], k [..., K, H], v [..., K, H])."""
    lead = qkv.shape[:-1]
    q_end, k_end = heads * head_dim, (heads + kv_heads) * head_dim
    if qkv.shape[-1] != (heads + 2 * kv_heads) * head_dim:
        raise ValueError(
            f"qkv {qkv.shape}: last axis is not ({heads} + 2 * {kv_heads}) * {head_dim}"
        )
    q = qkv[..., :q_end].reshape(*lead, heads, head_dim)
    k = qkv[..., q_end:k_end].reshape(*lead, kv_heads, head_dim)
    v = qkv[..., k_end:].reshape(*lead, kv_heads, head_dim)
    return q, k, v


def attention_bias(q_slots: jax.Array, kv_valid: jax.Array) -> jax.Array:
    """Additive attention bias [B, 1, 1, T, S] float32 from causal order and key validity.

    q_slots: [B, T] cache slot (or index) of each query token; a query sees keys at slots
    <= its own. kv_valid: [B, S] bool, keys that hold real tokens.
    """
    s = jnp.arange(kv_valid.shape[1])
    allowed = (s[None, None, :] <= q_slots[:, :, None]) & kv_valid[:, None, :]  # [B, T, S]
    return jnp.where(allowed, 0.0, MASKED)[:, None, None, :, :].astype(jnp.float32)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array) -> jax.Array:
    """Softmax attention of queries q [B, T, N, H] over keys and values k, v [B, S, K, H]
    (RoPE already applied), bias [B, 1, 1, T, S] from `attention_bias`. Returns [B, T, N, H].

    Scores and softmax in float32 (at least); the probabilities meet the values in q's dtype.
    """
    b, t, n, h = q.shape
    kv_heads = k.shape[2]
    q = q.reshape(b, t, kv_heads, n // kv_heads, h)  # [B, T, K, G, H]
    scores = jnp.einsum("btkgh,bskh->bkgts", q, k, preferred_element_type=wide(q.dtype))
    scores = scores * (h**-0.5) + bias  # [B, K, G, T, S]
    probs = jax.nn.softmax(scores, axis=-1).astype(q.dtype)
    return jnp.einsum("bkgts,bskh->btkgh", probs, v).reshape(b, t, n, h)


def attend_decode(q: jax.Array, keys: jax.Array, values: jax.Array, bias: jax.Array) -> jax.Array:
    """`attend` for one query per row in the decode step's cache layout. Returns [R, N, H].

    q [R, N, H]; keys [R, K, H, S] (slots minor, so q.k walks slots along the fast axis);
    values [R, K, S, H]; bias [R, 1, 1, 1, S] (`attention_bias` with T = 1). Both products
    are broadcast-multiply-sums in float32, which XLA:CPU runs faster than its batched small
    dots at decode sizes; the result equals `attend` up to float32 summation order.
    """
    r, n, h = q.shape
    kv_heads, dtype = keys.shape[1], q.dtype
    q = q.reshape(r, kv_heads, n // kv_heads, h).astype(jnp.float32)  # [R, K, G, H]
    scores = jnp.sum(q[..., None] * keys.astype(jnp.float32)[:, :, None], axis=3)  # [R, K, G, S]
    probs = jax.nn.softmax(scores * (h**-0.5) + bias[:, :, :, 0], axis=-1)
    out = jnp.sum(probs[..., None] * values.astype(jnp.float32)[:, :, None], axis=3)
    return out.reshape(r, n, h).astype(dtype)
