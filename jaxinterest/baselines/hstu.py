"""HSTU (Zhai et al., 2024): pointwise aggregated attention with SiLU and relative biases.

One layer, as in the paper (eq. 1-3) and its reference code (generative-recommenders):
    U, V, Q, K = split(SiLU(LayerNorm(X) W1 + b1))          U, V [B, T, N, Hv]; Q, K [..., Hqk]
    A[b, n, i, j] = SiLU(Q_i . K_j + rab_pos(i - j) + rab_time(bucket(t_i - t_j))) / n_max
                    for j <= i (and j a real slot), else 0   -- no softmax
    Y = LayerNorm(A V) * U;   X' = X + Y W2 + b2
bucket(dt) = floor(log(max(|dt|, 1)) / 0.301), clipped to [0, n_buckets] (seconds, as the
reference). Inputs carry learned absolute position embeddings, as the reference's input
preprocessor adds them. Two choices differ from the reference and are deliberate: the time
bias uses the query slot's own time (the reference uses the next item's time, unknown when
recommending for next week), and n_max is the configured stream length, not the batch's padded
width, so a user's output does not depend on who shares the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import ModelConfig
from jaxinterest.baselines.data import N_CODES

# SiLU(0) = 0: with zero biases an untrained layer aggregates almost nothing. A positive
# position bias at init makes every earlier slot count (SiLU(1) = 0.73, a scaled mean, what
# softmax attention starts from), so the history is visible from the first step.
RAB_INIT = 1.0


@dataclass(frozen=True)
class HSTUConfig(ModelConfig):
    name: str = "hstu"
    n_layers: int = 2
    n_heads: int = 2
    n_buckets: int = 64


head = L.output_head  # [..., D] states -> [..., E] query vectors


def init(cfg: HSTUConfig, key, e: int) -> dict:
    d, n_slots = cfg.d_model, cfg.max_len + 1
    k = jax.random.split(key, 4 + cfg.n_layers)
    blocks = []
    for i in range(cfg.n_layers):
        kb = jax.random.split(k[3 + i], 2)
        blocks.append({
            "ln_in": L.norm_init(d),
            "uvqk": L.dense_init(kb[0], d, 4 * d),
            "ln_attn": L.norm_init(d),
            "o": L.dense_init(kb[1], d, d),
            "rab_pos": jnp.full((2 * n_slots - 1,), RAB_INIT, jnp.float32),
            "rab_time": jnp.zeros((cfg.n_buckets + 1,), jnp.float32),
        })  # fmt: skip
    params = {
        "item": L.item_init(k[0], e, cfg.item_rank),
        "inputs": L.inputs_init(k[1], e, d, N_CODES),
        "pos": jax.random.normal(k[3 + cfg.n_layers], (n_slots, d), jnp.float32) * 0.02,
        "blocks": blocks,
        "ln_f": L.norm_init(d),
    }
    if not cfg.tie_head:
        params["out"] = L.dense_init(k[2], d, e)
    return params


def time_bucket(dt: jax.Array, n_buckets: int) -> jax.Array:
    """int32 bucket of a time difference in seconds (log scale, base ~2)."""
    dt = jnp.maximum(jnp.abs(dt).astype(jnp.float32), 1.0)
    return jnp.clip(jnp.floor(jnp.log(dt) / 0.301), 0, n_buckets).astype(jnp.int32)


def relative_bias(p: dict, time: jax.Array, n_slots: int, n_buckets: int) -> jax.Array:
    """[B, T, T] rab_pos[i - j + n_slots - 1] + rab_time[bucket(t_i - t_j)]."""
    t = time.shape[1]
    rel = jnp.arange(t)[:, None] - jnp.arange(t)[None, :] + n_slots - 1  # [T, T]
    dt = time[:, :, None] - time[:, None, :]  # [B, T, T]
    return p["rab_pos"][rel][None] + p["rab_time"][time_bucket(dt, n_buckets)]


def pointwise_attention(q, k, v, bias, mask, n_max: int) -> jax.Array:
    """SiLU attention, no softmax. q, k [B, T, N, Hqk], v [B, T, N, Hv], bias [B, T, T],
    mask bool [B, T, T] -> [B, T, N, Hv]."""
    s = jnp.einsum("btnh,bsnh->bnts", q, k) + bias[:, None]
    a = jnp.where(mask[:, None], jax.nn.silu(s), 0.0) / n_max
    return jnp.einsum("bnts,bsnh->btnh", a, v)


def layer(p: dict, x: jax.Array, time, mask, cfg: HSTUConfig) -> jax.Array:
    b, t, d = x.shape
    h = d // cfg.n_heads
    uvqk = jax.nn.silu(L.dense(p["uvqk"], L.layer_norm(p["ln_in"], x)))
    u, v, q, k = (a.reshape(b, t, cfg.n_heads, h) for a in jnp.split(uvqk, 4, axis=-1))
    bias = relative_bias(p, time, cfg.max_len + 1, cfg.n_buckets)
    av = pointwise_attention(q, k, v, bias, mask, cfg.max_len + 1).reshape(b, t, d)
    y = L.layer_norm(p["ln_attn"], av) * u.reshape(b, t, d)
    return x + L.dense(p["o"], y)


def encode(params: dict, emb: jax.Array, batch, cfg: HSTUConfig) -> jax.Array:
    """[B, T, E] stream embeddings -> [B, T, D] states (slot t sees slots <= t)."""
    x = L.embed_inputs(params["inputs"], emb, batch.dom) + params["pos"][: emb.shape[1]]
    mask = L.causal_mask(batch.length, emb.shape[1])
    for p in params["blocks"]:
        x = layer(p, x, batch.time, mask, cfg)
    return L.layer_norm(params["ln_f"], x)
