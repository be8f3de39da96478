"""A FAISS inner-product index over L2-normalised article embeddings, holding the article ids.

Kinds (built in `kinds.py`): "flat" (exact), "hnsw", "hnsw_sq", "ivf", "ivfpq". Inner product of
unit vectors is cosine similarity.

Default kind and parameters, chosen by measurement with `bench/retrieval.py` at the paper's
news count (1,214,552 unit vectors of dim 384: 20,000 real MiniLM title embeddings plus
covariance-shaped noisy copies; 10,000 real held-out titles as queries; faiss on 2 CPU threads).
The runs, each with its own exact-search anchor and machine load, are in docs/speed.md
("Retrieval index kinds").

ivfpq is the default because at recall@10 >= .95 it gives 2x or more the queries/s of HNSW over
float vectors: HNSW computes distances to thousands of random 1.5 KB rows per query, ivfpq scans
48-byte codes of 40 lists in SIMD registers, then reads only 80 float rows for the exact
re-rank. m = dim / 4 (96 for 384): 48 sub-vectors leave codes too coarse (recall stalls near .93
even when re-ranking 160 candidates), 192 costs more scan time than it saves in re-rank.
nlist = 4 * sqrt(N) (4408 at 1.2M); 2048 lists lose recall at equal scan work, and an HNSW
coarse quantizer did not beat the flat one. nprobe 40 / refine 8 is the cheapest setting with
margin over .95 (nprobe 32 sits on it). hnsw_sq (graph over 8-bit codes + re-rank) is about half
as fast as plain HNSW at the same recall: decoding the codes costs more than the memory traffic
it saves; it stays available but is not the default.
"""

from __future__ import annotations

import dataclasses

import faiss
import numpy as np

from jaxinterest.retrieval.kinds import (  # noqa: F401  (re-exported for search.py and users)
    DEFAULT_PARAMS,
    KINDS,
    hnsw_graph,
    make_faiss,
    resolve_params,
    set_search_params,
    to_gpu_if_available,
)

DEFAULT_KIND = "ivfpq"
# Rejected as a news id so it can mark "no result" in retrieve's output.
MISSING_ID = ""


@dataclasses.dataclass(frozen=True, eq=False)
class NewsIndex:
    """A searchable set of articles.

    index: the FAISS index (row r of the index is article ids[r]);
    ids: object array [N] of news ids; kind, params: how it was built (params after defaults,
    e.g. the effective nlist); window: (start, end) unix seconds or None; dim: embedding width.
    """

    index: faiss.Index
    ids: np.ndarray
    kind: str
    params: dict
    window: tuple[int, int] | None
    dim: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def on_gpu(self) -> bool:
        return "Gpu" in type(self.index).__name__


def check_embeddings(x, what: str, dim: int | None = None) -> np.ndarray:
    """Float32 C-contiguous [N, D] unit rows, or a ValueError naming the first bad row."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} must be 2-D [N, D], got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what} have width {x.shape[1]}, the index has {dim}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{what} must be floating point, got {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(f"{what} row {int(np.argmax(bad))} has NaN or inf")
    norms = np.linalg.norm(x, axis=1)
    off = np.abs(norms - 1.0) > 1e-3
    if off.any():
        r = int(np.argmax(off))
        raise ValueError(f"{what} row {r} has norm {norms[r]:.4g}; L2-normalise first (embed does)")
    return x


def _check_ids(news_ids, n: int) -> np.ndarray:
    ids = np.asarray(list(news_ids), dtype=object)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} news ids for {n} embeddings")
    seen: dict[str, int] = {}
    for i, a in enumerate(ids):
        if not isinstance(a, str) or a == MISSING_ID:
            raise ValueError(f"news_ids[{i}] = {a!r}: ids must be non-empty strings")
        if a in seen:
            raise ValueError(f"news_ids[{i}] = {a!r} duplicates news_ids[{seen[a]}]")
        seen[a] = i
    return ids


def build_index(
    news_ids,
    embeddings,
    published=None,
    window: tuple[int, int] | None = None,
    *,
    kind: str = DEFAULT_KIND,
    params: dict | None = None,
    use_gpu: bool = True,
) -> NewsIndex:
    """Index the articles a query may see.

    news_ids: N unique non-empty strings; embeddings: [N, D] unit rows (from `embed`);
    published: int64 [N] unix seconds, needed with `window`; window: (start, end) keeps articles
    with start <= published < end (half-open, like the world's test window).
    """
    x = check_embeddings(embeddings, "embeddings")
    ids = _check_ids(news_ids, len(x))
    if window is not None:
        if published is None:
            raise ValueError("window filtering needs `published`")
        published = np.asarray(published)
        if published.shape != (len(ids),):
            raise ValueError(f"published has shape {published.shape}, expected ({len(ids)},)")
        start, end = int(window[0]), int(window[1])
        keep = (published >= start) & (published < end)
        ids, x, window = ids[keep], x[keep], (start, end)
    p = resolve_params(kind, len(x), params, x.shape[1])
    index = make_faiss(kind, x.shape[1], x, p)
    if use_gpu:
        index = to_gpu_if_available(index, kind)
    return NewsIndex(index=index, ids=ids, kind=kind, params=p, window=window, dim=x.shape[1])
