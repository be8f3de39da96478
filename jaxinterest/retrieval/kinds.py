"""The FAISS index behind each NewsIndex kind: parameters, construction, search-time knobs.

Kinds (inner product of unit vectors = cosine similarity):
    flat     IndexFlatIP, exact.
    hnsw     IndexHNSWFlat; optional PCA pre-transform + exact re-rank (pca_dim).
    hnsw_sq  IndexHNSWSQ (graph over 8-bit scalar-quantised vectors) + exact re-rank of
             refine_factor * k candidates on the float vectors (IndexRefineFlat).
    ivf      IndexIVFFlat over a flat IP quantizer.
    ivfpq    IndexIVFPQFastScan (4-bit PQ codes, m sub-vectors, scanned with SIMD look-ups)
             + exact re-rank of refine_factor * k candidates (IndexRefineFlat).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

KINDS = ("flat", "hnsw", "hnsw_sq", "ivf", "ivfpq")
DEFAULT_PARAMS = {
    "flat": {},
    # pca_dim: walk the graph on the top principal components, then re-rank refine_factor * k
    # candidates exactly on the full vectors (off by default; docs/speed.md has the runs).
    "hnsw": {"M": 32, "ef_construction": 40, "ef_search": 128, "pca_dim": None, "refine_factor": 4},
    "hnsw_sq": {"M": 32, "ef_construction": 40, "ef_search": 64, "refine_factor": 4},
    "ivf": {"nlist": None, "nprobe": 48},  # nlist None -> 4 * sqrt(N), at least 1
    # nlist None -> 4 * sqrt(N); m None -> dim / 4 sub-vectors of 4 bits each
    "ivfpq": {"nlist": None, "m": None, "nprobe": 40, "refine_factor": 8},
}
# faiss-gpu has no HNSW, no 4-bit fast-scan PQ and no IndexRefineFlat: those kinds stay on CPU.
GPU_KINDS = ("flat", "ivf")
# Below this many rows an ivfpq index is an exact IndexFlatIP: 16-centroid PQ codebooks need
# a few hundred training points, and exact search over so few rows is cheap anyway.
MIN_PQ_ROWS = 1000
# name -> smallest allowed value; every one is an int except refine_factor
_LOWER = {"M": 2, "ef_construction": 1, "ef_search": 1, "nlist": 1, "nprobe": 1, "m": 1,
          "refine_factor": 1, "pca_dim": 1}  # fmt: skip


def resolve_params(kind: str, n: int, params: dict | None, dim: int | None = None) -> dict:
    """Defaults for `kind` overridden by `params`, checked; unknown keys are an error.

    n: rows to index (sets nlist when None); dim: embedding width (checks m and pca_dim).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = dict(DEFAULT_PARAMS[kind])
    unknown = set(params or {}) - set(out)
    if unknown:
        raise ValueError(f"unknown {kind} params {sorted(unknown)}; known: {sorted(out)}")
    out.update(params or {})
    for name, v in out.items():
        if v is None and name in ("nlist", "pca_dim", "m"):
            continue
        ok_type = isinstance(v, int | float) if name == "refine_factor" else isinstance(v, int)
        if isinstance(v, bool) or not ok_type or v < _LOWER[name]:
            raise ValueError(f"{kind} param {name} must be a number >= {_LOWER[name]}, got {v!r}")
    if dim is not None and kind == "ivfpq":
        # m None -> 4 dims per sub-vector (96 for MiniLM's 384), the measured choice (index.py)
        if out["m"] is None and dim % 4 == 0:
            out["m"] = dim // 4
        if out["m"] is None or dim % out["m"]:
            raise ValueError(f"ivfpq m={out['m']} must divide the embedding width {dim}")
    if dim is not None and out.get("pca_dim") is not None and not out["pca_dim"] < dim:
        raise ValueError(f"hnsw pca_dim must be in [1, {dim}), got {out['pca_dim']}")
    if kind in ("ivf", "ivfpq"):
        # k-means wants ~39+ points per centroid; shrink nlist on small sets instead of failing.
        nlist = out["nlist"] or max(1, int(4 * math.sqrt(n)))
        out["nlist"] = max(1, min(int(nlist), n // 39))
        out["nprobe"] = min(int(out["nprobe"]), out["nlist"])
    return out


def _sample(x: np.ndarray, n: int) -> np.ndarray:
    """At most n rows, drawn with a fixed seed so builds are repeatable."""
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(0).choice(len(x), n, replace=False))]


def _unwrap(index: faiss.Index) -> tuple[faiss.Index, faiss.IndexRefine | None]:
    """(innermost index below IndexRefine / IndexPreTransform wrappers, the IndexRefine)."""
    ix, refine = faiss.downcast_index(index), None
    if isinstance(ix, faiss.IndexRefine):
        refine, ix = ix, faiss.downcast_index(ix.base_index)
    if isinstance(ix, faiss.IndexPreTransform):
        ix = faiss.downcast_index(ix.index)
    return ix, refine


def hnsw_graph(index: faiss.Index) -> faiss.IndexHNSW:
    """The HNSW index inside optional IndexRefine / IndexPreTransform wrappers."""
    return _unwrap(index)[0]


def make_faiss(kind: str, dim: int, x: np.ndarray, p: dict) -> faiss.Index:
    """A trained FAISS index of `kind` holding rows x [N, dim] (params p from resolve_params)."""
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat" or len(x) == 0 or (kind == "ivfpq" and len(x) < MIN_PQ_ROWS):
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        pca_dim = p["pca_dim"]
        if pca_dim is not None and len(x) < int(pca_dim):
            raise ValueError(f"hnsw pca_dim {pca_dim} needs at least that many articles")
        graph = faiss.IndexHNSWFlat(int(pca_dim or dim), int(p["M"]), ip)
        graph.hnsw.efConstruction = int(p["ef_construction"])
        index = graph
        if pca_dim is not None:
            pre = faiss.IndexPreTransform(faiss.PCAMatrix(dim, int(pca_dim)), graph)
            pre.train(_sample(x, 100_000))
            index = faiss.IndexRefineFlat(pre)
    elif kind == "hnsw_sq":
        index = faiss.index_factory(dim, f"HNSW{p['M']},SQ8,RFlat", ip)
        hnsw_graph(index).hnsw.efConstruction = int(p["ef_construction"])
        index.train(_sample(x, 100_000))  # per-dimension min/max of the 8-bit grid
    elif kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, int(p["nlist"]), ip)
        # Train on a fixed-seed sample of <= 64 points per list: k-means cost is linear in it and
        # more points barely move the centroids.
        index.train(_sample(x, 64 * p["nlist"]))
    else:  # ivfpq
        index = faiss.index_factory(dim, f"IVF{p['nlist']},PQ{p['m']}x4fs,RFlat", ip)
        index.train(_sample(x, 64 * p["nlist"]))
    index.add(x)
    set_search_params(index, p, k=1)
    return index


def set_search_params(index: faiss.Index, params: dict, k: int) -> None:
    """Write the search-time knobs in `params` (ef_search, nprobe, refine_factor) into the
    FAISS index before a top-k search, whichever wrappers it has (CPU indexes; a GPU IVF
    index takes nprobe too)."""
    ix, refine = _unwrap(index)
    if refine is not None and "refine_factor" in params:
        refine.k_factor = float(params["refine_factor"])
    if isinstance(ix, faiss.IndexHNSW):
        # the candidate list must hold every row the (refined) search asks the graph for
        wanted = k * (refine.k_factor if refine is not None else 1)
        ix.hnsw.efSearch = max(int(params["ef_search"]), math.ceil(wanted))
    elif "nprobe" in params and hasattr(ix, "nprobe"):
        ix.nprobe = int(params["nprobe"])


def to_gpu_if_available(index: faiss.Index, kind: str) -> faiss.Index:
    """Move flat/IVF-flat indexes to all GPUs when faiss-gpu sees one; see GPU_KINDS."""
    if kind in GPU_KINDS and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_all_gpus(index)
    return index
