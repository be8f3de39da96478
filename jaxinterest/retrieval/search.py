"""Many-query top-k search over a NewsIndex, and save/load of an index directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from jaxinterest.retrieval.index import (
    MISSING_ID,
    NewsIndex,
    check_embeddings,
    set_search_params,
    to_gpu_if_available,
)

FORMAT_VERSION = 1


def query_embeddings(index: NewsIndex, queries, model=None) -> np.ndarray:
    """Queries as float32 [Q, D]: texts are embedded with `embed`, arrays are checked."""
    if isinstance(queries, np.ndarray) and queries.dtype != object:
        return check_embeddings(queries, "query embeddings", index.dim)
    if isinstance(queries, str) or not isinstance(queries, Sequence | np.ndarray):
        raise TypeError("queries must be a list of str or a float array [Q, D]")
    from jaxinterest.embed import embed  # lazy: array callers need no encoder

    return embed(list(queries), model=model)


def retrieve(index: NewsIndex, queries, k: int, *, model=None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k articles for each query, best first.

    queries: list of Q strings (embedded with `embed(..., model=model)`) or float [Q, D] unit
    rows. Returns (ids object [Q, k] of news ids, scores float32 [Q, k] inner products). Slots
    beyond the index's size (or left empty by an approximate search) hold MISSING_ID ("") and
    score -inf, so every row has exactly k entries.
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    q = query_embeddings(index, queries, model)
    if q.shape[1] != index.dim:
        raise ValueError(f"query embeddings have width {q.shape[1]}, the index has {index.dim}")
    ids = np.full((len(q), k), MISSING_ID, dtype=object)
    scores = np.full((len(q), k), -np.inf, dtype=np.float32)
    if len(q) == 0 or len(index) == 0:
        return ids, scores
    search_k = min(int(k), len(index))  # faiss cannot return more rows than it holds
    set_search_params(index.index, index.params, search_k)  # ef_search / nprobe / refine_factor
    dist, labels = index.index.search(q, search_k)
    found = labels >= 0
    ids[:, :search_k] = np.where(found, index.ids[np.where(found, labels, 0)], MISSING_ID)
    scores[:, :search_k] = np.where(found, dist, -np.inf)
    return ids, scores


def save_index(index: NewsIndex, path: str | Path) -> Path:
    """Write `index.faiss`, `ids.npy` (unicode, no pickle) and `meta.json` into directory `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cpu = faiss.index_gpu_to_cpu(index.index) if index.on_gpu else index.index
    faiss.write_index(cpu, str(path / "index.faiss"))
    np.save(path / "ids.npy", index.ids.astype(str), allow_pickle=False)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": index.kind,
        "params": index.params,
        "window": list(index.window) if index.window is not None else None,
        "dim": index.dim,
        "count": len(index),
    }
    (path / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def load_index(path: str | Path, *, use_gpu: bool = True) -> NewsIndex:
    """Read a directory written by `save_index`, checking that its three files agree."""
    path = Path(path)
    for name in ("index.faiss", "ids.npy", "meta.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} missing: not an index written by save_index")
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}/meta.json: format_version {meta.get('format_version')!r}")
    index = faiss.read_index(str(path / "index.faiss"))
    ids = np.load(path / "ids.npy", allow_pickle=False).astype(object)
    if not (index.ntotal == len(ids) == meta["count"]) or index.d != meta["dim"]:
        raise ValueError(
            f"{path}: index holds {index.ntotal} x {index.d}, ids.npy {len(ids)}, "
            f"meta.json {meta['count']} x {meta['dim']}"
        )
    if use_gpu:
        index = to_gpu_if_available(index, meta["kind"])
    window = tuple(meta["window"]) if meta["window"] is not None else None
    return NewsIndex(index, ids, meta["kind"], meta["params"], window, meta["dim"])
