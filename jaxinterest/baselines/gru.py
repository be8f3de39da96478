"""GRU user encoder (Okura et al. 2017): a recurrent net over the clicked articles' vectors.

Okura et al. learn article vectors with a denoising autoencoder and run a GRU over a user's
browsing history; the user vector is the last hidden state and articles are ranked by inner
product. Here the article vectors are MiniLM title embeddings (+ the shared item tower) instead
of the autoencoder's, since test-week articles are fresh. Input: the click stream by default.

    z = sigmoid(x Wz + h Uz + bz), r = sigmoid(x Wr + h Ur + br)
    n = tanh(x Wn + r * (h Un) + bn), h' = (1 - z) * n + z * h
Padding slots leave h unchanged, so the state at the last real slot is the user state.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import ModelConfig
from jaxinterest.baselines.data import N_CODES


@dataclass(frozen=True)
class GRUConfig(ModelConfig):
    name: str = "gru"
    d_model: int = 128


head = L.output_head  # [..., D] states -> [..., E] query vectors


def init(cfg: GRUConfig, key, e: int) -> dict:
    k = jax.random.split(key, 5)
    d = cfg.d_model
    params = {
        "item": L.item_init(k[0], e, cfg.item_rank),
        "inputs": L.inputs_init(k[1], e, d, N_CODES),
        "wx": L.dense_init(k[2], d, 3 * d),
        "uh": jax.random.normal(k[3], (d, 3 * d), jnp.float32) / d**0.5,
    }
    if not cfg.tie_head:
        params["out"] = L.dense_init(k[4], d, e)
    return params


def gru_cell(p: dict, h: jax.Array, x: jax.Array) -> jax.Array:
    """One step: h [B, D], x [B, D] -> h' [B, D] (equations in the module docstring)."""
    gx = L.dense(p["wx"], x)  # [B, 3D]
    gh = h @ p["uh"]
    d = h.shape[-1]
    z = jax.nn.sigmoid(gx[:, :d] + gh[:, :d])
    r = jax.nn.sigmoid(gx[:, d : 2 * d] + gh[:, d : 2 * d])
    n = jnp.tanh(gx[:, 2 * d :] + r * gh[:, 2 * d :])
    return (1 - z) * n + z * h


def encode(params: dict, emb: jax.Array, batch, cfg: GRUConfig) -> jax.Array:
    """[B, T, E] stream embeddings -> [B, T, D] states (slot t sees slots <= t)."""
    x = L.embed_inputs(params["inputs"], emb, batch.dom)  # [B, T, D]
    valid = jnp.arange(x.shape[1])[None, :] < batch.length[:, None]  # [B, T]

    def step(h, xs):
        x_t, ok = xs
        h_new = gru_cell(params, h, x_t)
        h = jnp.where(ok[:, None], h_new, h)
        return h, h

    h0 = jnp.zeros((x.shape[0], cfg.d_model), jnp.float32)
    _, hs = jax.lax.scan(step, h0, (x.swapaxes(0, 1), valid.swapaxes(0, 1)))
    return hs.swapaxes(0, 1)
