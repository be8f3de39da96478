"""The one-token decode step, laid out for speed on CPU, with two backends.

`models.qwen2.forward_with_cache` keeps the cache stacked as [L, B, S, K, H] and scans over
layers: right for prefill, but in a decode step it copies the whole cache (scan outputs are
fresh buffers). Here each layer owns its cache buffers and the layers are unrolled, so the only
cache traffic is the attention read plus a one-slot in-place write.

Backends (`backend=`):
  "kernel"  the C++ CPU kernels of `jaxinterest.kernels`: every matmul on weights packed into
            16-column panels, one custom call per layer for RoPE, the cache write and
            attention over each row's valid slots (keys and values [R, K, S, H]), and one for
            the token choice (in `engine.decode`).
  "xla"     pure JAX, any backend and any sharding: `models.qwen2.attend_decode` over keys
            [R, K, H, S] (the slot axis minor, so q.K walks slots along the fast axis) and
            values [R, K, S, H].
Both backends are faster than an einsum step over the stacked cache; `bench/decode_step.py`
times them against transformers' cached forward (figures: docs/speed.md).

The arithmetic is the model's (its RMSNorm, RoPE, mask and attention from `models.qwen2`; the
same products, with q/k/v and gate/up fused into one matmul each), so the step matches
`forward`: tests compare it with the full forward and with transformers token for token, on
both backends.

Legend as in model.py, R = decode rows (B * G).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest import kernels
from jaxinterest.models.qwen2 import (
    Qwen2Config,
    attend_decode,
    attention_bias,
    fuse_qkv,
    rms_norm,
    rope,
    rope_tables,
    split_qkv,
)

BACKENDS = ("kernel", "xla")


def prepare(params, cfg: Qwen2Config, backend: str = "xla") -> dict:
    """Decode-time weight layout, built once per generate call outside the decode loop.

    Per layer: q/k/v kernels fused into one [D, (N + 2K) * H] matrix (and biases), gate/up
    into [D, 2F], o as [N * H, D]; the LM head as [D, V] even when tied (XLA CPU multiplies
    by an embedding stored [V, D] about 1.5x slower). Fewer, larger matmuls per step. For the
    "kernel" backend every matrix is then packed into 16-column panels (`kernels.pack_panels`).
    """
    pack = kernels.pack_panels if backend == "kernel" else (lambda w: w)
    layers = []
    stacked = params["layers"]
    n, d = cfg.num_layers, cfg.hidden_size
    for i in range(n):
        lp = jax.tree.map(lambda a, i=i: a[i], stacked)
        layer = {
            "attn_norm": lp["attn_norm"]["scale"],
            "mlp_norm": lp["mlp_norm"]["scale"],
            "qkv": pack(fuse_qkv(*(lp[name]["kernel"] for name in ("q", "k", "v")))),
            "o": pack(lp["o"]["kernel"].reshape(-1, d)),
            "gate_up": pack(jnp.concatenate([lp["gate"]["kernel"], lp["up"]["kernel"]], axis=1)),
            "down": pack(lp["down"]["kernel"]),
        }
        if cfg.qkv_bias:
            layer["qkv_bias"] = fuse_qkv(*(lp[name]["bias"] for name in ("q", "k", "v")))
        layers.append(layer)
    head = params["embed"]["embedding"].T if cfg.tie_embeddings else params["lm_head"]["kernel"]
    return {
        "embed": params["embed"]["embedding"],
        "final_norm": params["final_norm"]["scale"],
        "head": pack(head),
        "layers": layers,
    }


def _dense(x, w, n: int, backend: str):
    """x @ w for a weight from `prepare` (packed panels on the kernel backend), [R, n]."""
    if backend == "kernel":
        return kernels.matmul(x, w, n)
    return jnp.matmul(x, w, preferred_element_type=jnp.float32).astype(x.dtype)


def slot_axes(backend: str) -> tuple[int, int]:
    """Axis of the cache slots in each layer's (keys, values) buffers."""
    return (2, 2) if backend == "kernel" else (3, 2)


def caches_from_stacked(stacked: dict, backend: str) -> tuple:
    """[L, B, S, K, H] {"k", "v"} (forward_with_cache's layout) -> per-layer (keys, values)
    in the backend's layout (see the module doc)."""
    k = jnp.swapaxes(stacked["k"], 2, 3)  # [L, B, K, S, H]
    v = jnp.swapaxes(stacked["v"], 2, 3)
    if backend != "kernel":
        k = jnp.swapaxes(k, 3, 4)  # [L, B, K, H, S]
    return tuple((k[i], v[i]) for i in range(k.shape[0]))


def _attend_xla(qkv, tables, cache_k, cache_v, slot, kv_valid, cfg: Qwen2Config):
    r, k_heads, h = qkv.shape[0], cfg.num_kv_heads, cfg.head_dim
    q, k, v = split_qkv(qkv, cfg.num_heads, k_heads, h)  # [R, N, H], [R, K, H], [R, K, H]
    tables = tuple(t[:, 0] for t in tables)  # [R, 1, H]
    q, k = rope(q, tables), rope(k, tables)
    # New key [R, K, H, 1] and value [R, K, 1, H] written at `slot` in place.
    k, v = k[..., None], v[:, :, None]
    cache_k = jax.lax.dynamic_update_slice(cache_k, k.astype(cache_k.dtype), (0, 0, 0, slot))
    cache_v = jax.lax.dynamic_update_slice(cache_v, v.astype(cache_v.dtype), (0, 0, slot, 0))
    bias = attention_bias(jnp.full((r, 1), slot), kv_valid)  # [R, 1, 1, 1, S]
    out = attend_decode(q, cache_k, cache_v, bias)  # [R, N, H]
    return out.reshape(r, -1), cache_k, cache_v


def decode_step(dp, caches, tokens, positions, slot, kv_valid, lo, cfg: Qwen2Config, backend):
    """One new token per row.

    dp: `prepare(params, cfg, backend)`; caches: per-layer (keys, values) in `backend`'s layout;
    tokens, positions: [R] int; slot: scalar cache slot the new key/value go to (same for every
    row); kv_valid: [R, S] bool, slots holding real tokens ("xla" reads it); lo: [R] int32,
    each row's first real slot ("kernel" reads it; the real slots must be [lo, slot]).
    Returns (logits [R, V] float32, new caches).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    h, d = cfg.head_dim, cfg.hidden_size
    qkv_width = (cfg.num_heads + 2 * cfg.num_kv_heads) * h
    x = dp["embed"][tokens]  # [R, D]
    tables = rope_tables(positions[:, None], h, cfg.rope_theta, x.dtype)  # [R, 1, 1, H]
    new_caches = []
    for lp, (cache_k, cache_v) in zip(dp["layers"], caches, strict=True):
        qkv = _dense(rms_norm(x, lp["attn_norm"], cfg.rms_norm_eps), lp["qkv"], qkv_width, backend)
        if cfg.qkv_bias:
            qkv = qkv + lp["qkv_bias"]
        if backend == "kernel":
            cos, sin = (t.reshape(t.shape[0], h) for t in tables)
            out, cache_k, cache_v = kernels.decode_attention(
                qkv, cos, sin, cache_k, cache_v, lo, slot,
                heads=cfg.num_heads, kv_heads=cfg.num_kv_heads,
            )  # fmt: skip
        else:
            out, cache_k, cache_v = _attend_xla(qkv, tables, cache_k, cache_v, slot, kv_valid, cfg)
        new_caches.append((cache_k, cache_v))
        x = x + _dense(out, lp["o"], d, backend)
        normed = rms_norm(x, lp["mlp_norm"], cfg.rms_norm_eps)
        gate, up = jnp.split(
            _dense(normed, lp["gate_up"], 2 * cfg.intermediate_size, backend), 2, -1
        )
        x = x + _dense(jax.nn.silu(gate) * up, lp["down"], d, backend)
    x = rms_norm(x, dp["final_norm"], cfg.rms_norm_eps)
    if backend == "kernel":
        logits = kernels.matmul(x, dp["head"], cfg.vocab_size)
    else:
        logits = jnp.matmul(x, dp["head"], preferred_element_type=jnp.float32)
    return logits, tuple(new_caches)
