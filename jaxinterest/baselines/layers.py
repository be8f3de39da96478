"""Building blocks every baseline shares: the item tower, input embedding, norms, dense layers.

Shape legend: B users, T stream slots, E text-embedding width (384 for MiniLM), D model width.

The item tower maps an article's text embedding e [E] to its vector in the scoring space:
    item(e) = normalize(e + (e A) B),   A [E, R], B [R, E] with B = 0 at init,
a low-rank residual, so an untrained tower is the MiniLM space itself (content similarity) and
training learns what in a title predicts clicks. It scores fresh test-week articles the same
way as training articles: no baseline has an id embedding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-6


def normalize(x: jax.Array) -> jax.Array:
    """Rows scaled to unit L2 norm (float32: the scores are cosine similarities)."""
    x = x.astype(jnp.float32)
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + EPS)


def dense_init(key, n_in: int, n_out: int, *, zero: bool = False) -> dict:
    w = jnp.zeros((n_in, n_out)) if zero else jax.random.normal(key, (n_in, n_out)) / n_in**0.5
    return {"w": w.astype(jnp.float32), "b": jnp.zeros((n_out,), jnp.float32)}


def dense(p: dict, x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"]


def norm_init(d: int) -> dict:
    return {"scale": jnp.ones((d,), jnp.float32), "bias": jnp.zeros((d,), jnp.float32)}


def layer_norm(p: dict, x: jax.Array) -> jax.Array:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]


def item_init(key, e: int, rank: int) -> dict:
    return {
        "a": jax.random.normal(key, (e, rank), jnp.float32) / e**0.5,
        "b": jnp.zeros((rank, e), jnp.float32),
    }


def item_vectors(p: dict, emb: jax.Array) -> jax.Array:
    """[..., E] text embeddings -> [..., E] unit item vectors."""
    return normalize(emb + (emb @ p["a"]) @ p["b"])


def output_head(params: dict, h: jax.Array) -> jax.Array:
    """[..., D] model states -> [..., E] query vectors: params["out"] if the model has one,
    else the transpose of its input projection (tied, as SASRec shares its item embeddings
    between input and output: a state that copies an item's input scores similar items high).
    Applied only to the slots that are scored, as it is the widest matmul of most models."""
    if "out" in params:
        return dense(params["out"], h)
    return h @ params["inputs"]["proj"]["w"].T


def inputs_init(key, e: int, d: int, n_codes: int) -> dict:
    k1, k2 = jax.random.split(key)
    return {
        "proj": dense_init(k1, e, d),
        "dom": jax.random.normal(k2, (n_codes, d), jnp.float32) * 0.02,
    }


def embed_inputs(p: dict, emb: jax.Array, dom: jax.Array) -> jax.Array:
    """[B, T, E] text embeddings + [B, T] domain codes -> [B, T, D] (BOS = its code alone)."""
    return dense(p["proj"], emb) + p["dom"][dom]


def additive_pool_logits(p: dict, x: jax.Array) -> jax.Array:
    """Additive attention scores q . tanh(x V + b): [..., D] -> [...]."""
    return jnp.tanh(dense(p["v"], x)) @ p["q"]


def additive_init(key, d: int, a: int) -> dict:
    k1, k2 = jax.random.split(key)
    return {"v": dense_init(k1, d, a), "q": jax.random.normal(k2, (a,), jnp.float32) / a**0.5}


def causal_mask(length: jax.Array, t: int) -> jax.Array:
    """bool [B, T, T]: query slot i may attend key slot j iff j <= i and j < length[b]."""
    pos = jnp.arange(t)
    return (pos[None, :, None] >= pos[None, None, :]) & (pos[None, None, :] < length[:, None, None])
