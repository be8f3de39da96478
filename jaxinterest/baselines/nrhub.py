"""NRHUB-style heterogeneous-behaviour user encoder (Wu et al., 2019).

NRHUB encodes each kind of user behaviour (search queries, browsed web pages, clicked news)
with its own encoder, attention-pools each kind into one vector, then attention-pools the kinds
into the user vector. Here a behaviour's text enters as its MiniLM embedding (MiniLM replaces
NRHUB's word-level CNN), projected by one shared linear map P (NRHUB shares word embeddings
across its encoders); each kind then has its own dense GELU layer and the paper's additive
attention, and the kinds are pooled by a second additive attention:

    x_j = GELU((e_j P) W_k + b_k)                        for behaviour j of kind k
    a_j = q_k . tanh(x_j V_k + c_k)
    r_k(i) = sum_{j <= i, kind(j) = k} softmax(a)_j x_j   (a learned null vector if none)
    u(i) = sum_k softmax_k(q . tanh(r_k(i) V + c)) r_k(i)

`i` runs over the time-ordered stream, so the output at slot i summarises everything before the
next event and training predicts every click from the behaviour of all three domains before
it. Input: search, browse and click streams (cross-domain), the only baseline given all three
by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import ModelConfig
from jaxinterest.baselines.data import DOMAINS

CAP = 20.0  # soft cap of attention logits: exp(-2 CAP) = 4e-18 is still a normal float32


@dataclass(frozen=True)
class NRHUBConfig(ModelConfig):
    name: str = "nrhub"
    domains: tuple[str, ...] = DOMAINS
    max_len: int = 150  # up to 50 per domain
    attn_dim: int = 64


head = L.output_head  # [..., D] states -> [..., E] query vectors


def init(cfg: NRHUBConfig, key, e: int) -> dict:
    d = cfg.d_model
    k = jax.random.split(key, 5 + 2 * len(DOMAINS))
    enc = [
        {
            "proj": L.dense_init(k[5 + 2 * i], d, d),
            "pool": L.additive_init(k[6 + 2 * i], d, cfg.attn_dim),
        }
        for i in range(len(DOMAINS))
    ]
    params = {
        "item": L.item_init(k[0], e, cfg.item_rank),
        "inputs": {"proj": L.dense_init(k[4], e, d)},
        "enc": enc,
        "null": jax.random.normal(k[1], (len(DOMAINS), d), jnp.float32) * 0.02,
        "mix": L.additive_init(k[2], d, cfg.attn_dim),
    }
    if not cfg.tie_head:
        params["out"] = L.dense_init(k[3], d, e)
    return params


def causal_pool(logits: jax.Array, x: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Attention pooling over every prefix: out[b, i] = sum_{j <= i, mask} softmax(logits)_j x_j.

    logits [B, T], x [B, T, D], mask bool [B, T]. Softmax is shift-invariant, so shifting by
    the user's largest masked logit (over all j, not just the prefix) and taking running sums
    of exp(a_j) x_j and exp(a_j) gives every prefix at once in O(T). Logits are soft-capped to
    (-CAP, CAP) first, so exp never underflows a prefix to zero. Returns (pooled [B, T, D],
    any bool [B, T]: some j <= i is in the mask).
    """
    a = CAP * jnp.tanh(logits / CAP)
    top = jnp.max(jnp.where(mask, a, -CAP), axis=1, keepdims=True)
    w = jnp.where(mask, jnp.exp(a - top), 0.0)  # [B, T], in [exp(-2 CAP), 1]
    num = jnp.cumsum(w[..., None] * x, axis=1)
    den = jnp.cumsum(w, axis=1)
    has = jnp.cumsum(mask, axis=1) > 0
    return num / jnp.where(has, den, 1.0)[..., None], has


def domain_pool(p: dict, h, batch, kind: int) -> tuple[jax.Array, jax.Array]:
    """Kind `kind`'s attention-pooled vector after each slot, from the shared projection
    h [B, T, D]: ([B, T, D], any bool [B, T])."""
    x = jax.nn.gelu(L.dense(p["proj"], h))  # [B, T, D]
    logits = L.additive_pool_logits(p["pool"], x)  # [B, T]
    valid = jnp.arange(h.shape[1])[None, :] < batch.length[:, None]
    return causal_pool(logits, x, valid & (batch.dom == kind))


def encode(params: dict, emb: jax.Array, batch, cfg: NRHUBConfig) -> jax.Array:
    """[B, T, E] stream embeddings -> [B, T, D] states (slot t sees slots <= t)."""
    kinds = [DOMAINS.index(d) for d in cfg.domains]
    h = L.dense(params["inputs"]["proj"], emb)  # [B, T, D]: one projection for every kind
    reps = []
    for k in kinds:
        r, has = domain_pool(params["enc"][k], h, batch, k)
        reps.append(jnp.where(has[..., None], r, params["null"][k]))
    reps = jnp.stack(reps, axis=2)  # [B, T, K, D]
    w = jax.nn.softmax(L.additive_pool_logits(params["mix"], reps), axis=-1)  # [B, T, K]
    user = jnp.einsum("btk,btkd->btd", w, reps)
    return user
