"""A trained baseline -> user vectors -> the shared evaluation protocol.

The candidates are the test-week articles, exactly the set `jaxinterest evaluate` ranks, but
scored in the model's space: the index holds the item tower's vectors of their titles
(`item_index`), built with the same FAISS kind and window. Each user's vector(s) come from their
whole training-window stream (the output at the last slot; PinSage: one per top cluster) and go
through `eval.recommend.evaluate_vectors`: per_query_k articles per vector, merged, the user's
training-window clicks removed, Recall/NDCG/MRR for all, warm and cold users.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.data import Streams, test_items
from jaxinterest.baselines.train import as_batch
from jaxinterest.data.columns import column
from jaxinterest.eval.recommend import EvalConfig, evaluate_vectors


def user_vectors(model, params, cfg, streams: Streams, vecs, *, batch_users: int = 256):
    """float32 [U, E] unit vectors: the model's output at each user's last stream slot."""

    @jax.jit
    def last(params, batch, vecs):
        h = model.encode(params, vecs[batch.text], batch, cfg)  # [B, T, D]
        idx = (batch.length - 1)[:, None, None]
        return L.normalize(model.head(params, jnp.take_along_axis(h, idx, axis=1)[:, 0]))

    n = len(streams.length)
    vecs = jnp.asarray(vecs)
    parts = []
    for s in range(0, n, batch_users):
        rows = np.arange(s, s + batch_users)
        ok = rows < n
        sub = streams.take(np.where(ok, rows, 0))  # padded to one shape: one compile
        parts.append(np.asarray(last(params, as_batch(sub), vecs))[ok])
    return np.concatenate(parts) if parts else np.zeros((0, vecs.shape[1]), np.float32)


def item_index(params, world, table, item_text, cfg: EvalConfig):
    """NewsIndex of the test-week articles' item-tower vectors (the model's candidates)."""
    from jaxinterest.retrieval import build_index

    rows = test_items(world)
    vec = np.asarray(L.item_vectors(params["item"], table.vectors[item_text[rows]]), np.float32)
    ids = column(world.news, "news_id")
    published = np.asarray(column(world.news, "published"), np.int64)[rows]
    window = (int(world.meta["test_start"]), int(world.meta["test_end"]))
    return build_index([ids[i] for i in rows], vec, published, window, kind=cfg.index_kind)


def text_index(world, table, cfg: EvalConfig):
    """NewsIndex of the test-week articles' MiniLM title vectors: `build_test_index` from the
    embedding cache (same articles, texts, encoder and index kind)."""
    from jaxinterest.eval.recommend import article_texts
    from jaxinterest.retrieval import build_index

    rows = test_items(world)
    texts = article_texts(world.news, cfg.article_text)
    ids = column(world.news, "news_id")
    published = np.asarray(column(world.news, "published"), np.int64)[rows]
    window = (int(world.meta["test_start"]), int(world.meta["test_end"]))
    vec = table.lookup([texts[i] for i in rows])
    return build_index([ids[i] for i in rows], vec, published, window, kind=cfg.index_kind)


def evaluate_model(
    name, model, params, cfg, world, streams, table, item_text, ecfg, progress=False
):
    """(report, ranked) of one trained baseline on the world's test week."""
    users = column(world.users, "user_id")
    if hasattr(model, "user_queries"):  # multi-interest (PinSage)
        start = int(world.meta["train_start"])
        per_user = model.user_queries(
            params, streams, table, int(world.meta["train_end"]), start, cfg, progress
        )
    else:
        v = user_vectors(model, params, cfg, streams, table.vectors)
        per_user = [v[i : i + 1] for i in range(len(users))]
    index = item_index(params, world, table, item_text, ecfg)
    return evaluate_vectors(world, dict(zip(users, per_user, strict=True)), ecfg, index=index)
