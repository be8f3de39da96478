"""PinSage-style multi-interest user representation (Pal et al., 2020, "PinnerSage").

PinnerSage keeps no single user vector: it clusters the embeddings of the items a user acted on
with Ward hierarchical clustering, represents each cluster by its medoid, scores clusters by
time-decayed importance, and runs one ANN retrieval per top cluster. Item embeddings there come
from PinSage, a graph network trained so that items engaged one after another score high. Here:

- item embeddings: the shared item tower over MiniLM title embeddings, trained so that the
  vector of an interaction scores the next click high (the same sampled softmax as the other
  baselines, pairs (interaction, next click) instead of PinSage's co-engagement pairs);
- user: Ward clusters of the tower's vectors of the user's interactions (`ward.py`), cut at a
  height threshold and at most `max_clusters`; medoid per cluster; importance
  sum_i exp(-decay * days(train_end - t_i)) over its members; the `n_queries` most important
  medoids each retrieve `per_query_k` articles and the lists merge like a user's queries do.
- a user with no interaction gets one learned vector (`bos`, trained to predict first clicks).

Input: the click stream by default (clicked articles are the interactions).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import ModelConfig
from jaxinterest.baselines.ward import cut, medoids, ward_linkage

DAY = 86400.0


@dataclass(frozen=True)
class PinSageConfig(ModelConfig):
    name: str = "pinsage"
    threshold: float = 1.0  # Ward merge height (unit-vector space) below which clusters merge
    max_clusters: int = 8
    n_queries: int = 3  # top clusters by importance, one retrieval each (PinnerSage uses 3)
    decay_per_day: float = 0.1


def init(cfg: PinSageConfig, key, e: int) -> dict:
    k1, k2 = jax.random.split(key)
    return {
        "item": L.item_init(k1, e, cfg.item_rank),
        "bos": jax.random.normal(k2, (e,), jnp.float32) / e**0.5,
    }


def encode(params: dict, emb: jax.Array, batch, cfg: PinSageConfig) -> jax.Array:
    """[B, T, E] -> [B, T, E]: each interaction's item vector (slot 0: the learned `bos`)."""
    vec = L.item_vectors(params["item"], emb)
    is_bos = (jnp.arange(emb.shape[1]) == 0)[None, :, None]
    return jnp.where(is_bos, params["bos"], vec)


def head(params: dict, h: jax.Array) -> jax.Array:
    """The states are already item vectors [..., E]."""
    return h


def cluster_queries(vec: np.ndarray, days_ago: np.ndarray, cfg: PinSageConfig) -> np.ndarray:
    """One user's query vectors [Q, E] from their interaction vectors vec [n, E] (unit rows,
    n >= 1) and ages in days [n]: the medoids of the most important Ward clusters."""
    if len(vec) == 1:
        return vec
    labels = cut(
        ward_linkage(vec), len(vec), threshold=cfg.threshold, max_clusters=cfg.max_clusters
    )
    weight = np.exp(-cfg.decay_per_day * days_ago)
    importance = np.bincount(labels, weights=weight)
    top = np.argsort(-importance, kind="stable")[: cfg.n_queries]
    return vec[medoids(vec, labels)[top]]


def user_queries(
    params: dict, streams, table, now: int, start: int, cfg: PinSageConfig, progress=False
):
    """Per user a float32 [Q, E] array of unit query vectors.

    streams: `data.Streams` of all users; table: TextTable; now, start: unix seconds of the
    training window's end and start (ages are measured to `now`).
    """
    rows = np.unique(streams.text)  # the tower runs once per distinct text
    vecs = np.asarray(jax.jit(L.item_vectors)(params["item"], table.vectors[rows]), np.float64)
    where = np.zeros(len(table.vectors), np.int64)
    where[rows] = np.arange(len(rows))
    bos = np.asarray(L.normalize(params["bos"]), np.float32)[None]
    out = []
    from tqdm import tqdm

    users = tqdm(range(len(streams.length)), desc="cluster users", disable=not progress)
    for u in users:
        n = int(streams.length[u])
        if n <= 1:
            out.append(bos)
            continue
        vec = vecs[where[streams.text[u, 1:n]]]
        days = (now - start - streams.time[u, 1:n].astype(np.float64)) / DAY
        out.append(cluster_queries(vec, days, cfg).astype(np.float32))
    return out
