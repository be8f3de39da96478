"""SASRec (Kang and McAuley, 2018): causal self-attention over the click sequence.

Learned absolute position embeddings are added to the item inputs; each block is pre-norm
causal multi-head softmax attention and a two-layer ReLU feed-forward net, both residual; the
output at slot t (which sees slots <= t only) predicts the next click. Items enter as MiniLM
title embeddings through a learned projection (SASRec's id embeddings cannot score fresh
articles). Input: the click stream by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import ModelConfig
from jaxinterest.baselines.data import N_CODES

NEG = -1e9  # additive mask: exp underflows to exactly 0 in float32


@dataclass(frozen=True)
class SASRecConfig(ModelConfig):
    name: str = "sasrec"
    n_layers: int = 2
    n_heads: int = 2


head = L.output_head  # [..., D] states -> [..., E] query vectors


def init(cfg: SASRecConfig, key, e: int) -> dict:
    d = cfg.d_model
    k = jax.random.split(key, 4 + cfg.n_layers)
    blocks = []
    for i in range(cfg.n_layers):
        kb = jax.random.split(k[4 + i], 4)
        blocks.append({
            "ln1": L.norm_init(d),
            "qkv": L.dense_init(kb[0], d, 3 * d),
            "o": L.dense_init(kb[1], d, d),
            "ln2": L.norm_init(d),
            "ff1": L.dense_init(kb[2], d, d),
            "ff2": L.dense_init(kb[3], d, d),
        })  # fmt: skip
    params = {
        "item": L.item_init(k[0], e, cfg.item_rank),
        "inputs": L.inputs_init(k[1], e, d, N_CODES),
        "pos": jax.random.normal(k[2], (cfg.max_len + 1, d), jnp.float32) * 0.02,
        "blocks": blocks,
        "ln_f": L.norm_init(d),
    }
    if not cfg.tie_head:
        params["out"] = L.dense_init(k[3], d, e)
    return params


def attention(p: dict, x: jax.Array, mask: jax.Array, n_heads: int) -> jax.Array:
    """Multi-head softmax attention. x [B, T, D], mask [B, T, S=T] -> [B, T, D]."""
    b, t, d = x.shape
    q, k, v = jnp.split(L.dense(p["qkv"], x), 3, axis=-1)
    q, k, v = (a.reshape(b, t, n_heads, d // n_heads) for a in (q, k, v))  # [B, T, N, H]
    s = jnp.einsum("btnh,bsnh->bnts", q, k) / (d // n_heads) ** 0.5
    s = jnp.where(mask[:, None], s, NEG)
    a = jax.nn.softmax(s, axis=-1)
    return L.dense(p["o"], jnp.einsum("bnts,bsnh->btnh", a, v).reshape(b, t, d))


def encode(params: dict, emb: jax.Array, batch, cfg: SASRecConfig) -> jax.Array:
    """[B, T, E] stream embeddings -> [B, T, D] states (slot t sees slots <= t)."""
    t = emb.shape[1]
    x = L.embed_inputs(params["inputs"], emb, batch.dom) + params["pos"][:t]
    mask = L.causal_mask(batch.length, t)
    for p in params["blocks"]:
        x = x + attention(p, L.layer_norm(p["ln1"], x), mask, cfg.n_heads)
        h = jax.nn.relu(L.dense(p["ff1"], L.layer_norm(p["ln2"], x)))
        x = x + L.dense(p["ff2"], h)
    return L.layer_norm(params["ln_f"], x)
