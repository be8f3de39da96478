"""A FAISS inner-product index over L2-normalised article embeddings, holding the article ids.

Kinds: "flat" (exact, IndexFlatIP), "hnsw" (IndexHNSWFlat, METRIC_INNER_PRODUCT), "ivf"
(IndexIVFFlat over a flat IP quantizer). Inner product of unit vectors is cosine similarity.

Default approximate kind and parameters, chosen by measurement (`bench/retrieval.py`:
1,214,552 unit vectors of dim 384 = 20,000 real MiniLM title embeddings from the paper-preset
world + covariance-shaped noisy copies; 10,000 real held-out titles as queries; faiss on 2 CPU
threads of a machine shared with other jobs). Queries/s swing 2-4x with the other jobs' load,
so each run is listed with its own exact-search anchor:

    run 1 (load ~9)                build    queries/s   recall@10 vs exact
    flat (exact)                    10 s        28        1
    hnsw M=32 efC=40  efSearch=64  592 s      2002        .915
                      efSearch=96             1302        .950
                      efSearch=128            1036        .967
    ivf nlist=4408    nprobe=16    395 s      1590        .924
                      nprobe=32                886        .961
                      nprobe=48                746        .975
    run 3 (load ~3-5)
    flat (exact)                    13 s        36        1
    hnsw M=32 efC=40  efSearch=64  203 s      7757        .916
                      efSearch=128            4430        .966
    hnsw + pca_dim=128, efSearch=128   168 s   3037 / 2750 / 2426    .937 / .965 / .971
         refine_factor 4 / 8 / 12
    (run 2, load ~2-3: pca_dim=128, refine 4: efSearch 64 -> 9977 q/s at .907, 128 -> 6010
    at .937)

HNSW gives the most queries/s at every recall level above .9 and needs no training pass, so it
is the default; efSearch=128 (not 96) because 96 sits on the .95 target (.950, .949) and
recall falls as the index grows. IVF builds faster in run 1 (k-means on 64 points per list,
then one assignment pass) but is slower to query; nprobe=48 keeps it above .95 with margin;
nlist = 4 * sqrt(N) (4408 at the paper's size). The PCA option (graph on 128 principal
components + exact re-rank) builds a little faster but did not beat plain HNSW at >= .95, so it
stays off. The issue's goal (>= .95 at >= 10,000 queries/s on 2 cores) is NOT met on these
shared cores: the best was 4,430 queries/s at .966 (125x exact search in the same run); 10k
queries/s was reached only at recall ~.91.
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

DEFAULT_KIND = "hnsw"
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
