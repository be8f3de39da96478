"""Retrieval bench: ANN build time, queries/s and recall@10 vs exact search at the paper's news
count, plus our JAX encoder's embeddings/s vs sentence-transformers on the same texts.

Prints ONE JSON object. What it does, exactly:

1. Titles: the world's `paper`-preset news titles (1,214,552 articles, generated in-process with
   the world's own news generator; or `--world DIR` reads DIR/news.parquet).
2. Encoder: `--st-texts` titles are embedded by our `embed` (after one warm-up pass that compiles
   every bucket shape) and by sentence-transformers (CPU, same batch size); both timed on the
   same texts, ratio = ours / theirs.
3. Real embeddings: `--n-real` distinct titles (index base) and `--n-queries` other distinct
   titles (queries) are embedded with our encoder (timed: embeddings/s at scale). Embedding all
   1.2M titles would take hours on 2 shared cores, so:
4. The index holds the n_real real vectors plus (n_news - n_real) synthetic rows, each a real
   base vector plus isotropic Gaussian noise, re-normalised. The noise scale is calibrated so
   cos(copy, its base) equals the median nearest-neighbour cosine among the real titles: a copy
   sits as close to its base as real titles sit to each other.
5. Exact search (IndexFlatIP through our `retrieve`) gives the reference top-10; each HNSW
   efSearch / IVF nprobe setting is timed on the whole query batch and scored by recall@10 =
   |approx top-10 & exact top-10| / 10, averaged over queries.

`--merge-world DIR` instead compares the merge methods on a generated world (see merge_bench).
Run: /work/venv/bin/python bench/retrieval.py   (25-60 min on 2 shared cores; `--variants` to
measure fewer indexes)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import faiss
import numpy as np


def world_titles(args) -> list[str]:
    """The paper preset's news titles (or DIR/news.parquet's)."""
    if args.world:
        import pyarrow.parquet as pq

        return pq.read_table(os.path.join(args.world, "news.parquet"), columns=["title"])[
            "title"
        ].to_pylist()
    from jaxinterest.data.entities import build_space
    from jaxinterest.data.surfaces import Pools
    from jaxinterest.data.world import make_config, windows
    from jaxinterest.data.world_news import make_news

    cfg = make_config("paper", seed=args.seed)
    w = windows(cfg)
    space = build_space(cfg.seed, cfg.entities_per_category)
    news = make_news(
        space, Pools(space, cfg.seed), cfg.n_news, w["train_start"],
        cfg.train_days + cfg.test_days, cfg.seed,
    )  # fmt: skip
    return news.table["title"].to_pylist()


def encoder_speed(texts: list[str], batch_size: int) -> dict:
    """Embeddings/s of our encoder and of sentence-transformers on the same texts."""
    import torch
    from sentence_transformers import SentenceTransformer

    from jaxinterest.embed import embed
    from jaxinterest.models.encoder import default_model_path

    embed(texts, batch_size=batch_size)  # compile every bucket shape these texts need
    t = time.perf_counter()
    ours = embed(texts, batch_size=batch_size)
    ours_s = time.perf_counter() - t
    st = SentenceTransformer(str(default_model_path()), device="cpu")
    st.encode(texts[:batch_size], batch_size=batch_size)
    t = time.perf_counter()
    ref = st.encode(texts, batch_size=batch_size, convert_to_numpy=True)
    st_s = time.perf_counter() - t
    return {
        "texts": len(texts),
        "batch_size": batch_size,
        "ours_embeddings_per_s": round(len(texts) / ours_s, 1),
        "sentence_transformers_embeddings_per_s": round(len(texts) / st_s, 1),
        "ratio_ours_over_st": round(st_s / ours_s, 3),
        "max_abs_diff_vs_st": float(np.abs(ours - ref).max()),
        "torch_threads": torch.get_num_threads(),
    }


def synthesize(base: np.ndarray, n_total: int, cos_target: float, seed: int):
    """base rows first, then n_total - len(base) noisy copies of random base rows (unit norm).

    The noise is Gaussian with the real embeddings' own covariance (so copies stay in the
    low-dimensional region real titles occupy instead of spreading over all 384 directions),
    scaled so the median cos(copy, its base) is `cos_target`. Returns (rows, scale).
    """
    rng = np.random.default_rng(seed)
    n, d = base.shape
    _, sv, vt = np.linalg.svd(base - base.mean(0), full_matrices=False)
    shape = ((sv / np.sqrt(n - 1))[:, None] * vt).astype(np.float32)  # noise = g @ shape

    def copies(rows, g, scale):
        out = base[rows] + scale * (g @ shape)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    probe_rows, probe_g = rng.integers(0, n, 4000), rng.standard_normal((4000, d), np.float32)
    lo, hi = 0.0, 20.0
    for _ in range(40):  # bisection: the median cosine falls as the scale grows
        mid = (lo + hi) / 2
        cos = np.median(np.sum(copies(probe_rows, probe_g, mid) * base[probe_rows], axis=1))
        lo, hi = (mid, hi) if cos > cos_target else (lo, mid)
    scale = (lo + hi) / 2
    out = np.empty((n_total, d), np.float32)
    out[:n] = base
    for s in range(n, n_total, 100_000):
        e = min(s + 100_000, n_total)
        g = rng.standard_normal((e - s, d), np.float32)
        out[s:e] = copies(rng.integers(0, n, e - s), g, scale)
    return out, float(scale)


def recall_at_10(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)]))


def timed_search(index, q: np.ndarray, k: int = 10):
    from jaxinterest.retrieval import retrieve

    t = time.perf_counter()
    ids, _ = retrieve(index, q, k)
    return ids, time.perf_counter() - t


def sweep(kind, params, grid_key, grid, ids, x, q, exact, exact_qps) -> dict:
    """Build one index of `kind`, then time/score each value of its search parameter.
    speedup_vs_exact = qps / exact search's qps in this run (the anchor; load-independent-ish)."""
    from jaxinterest.retrieval import build_index

    t = time.perf_counter()
    index = build_index(ids, x, kind=kind, params=params)
    build_s = time.perf_counter() - t
    rows = []
    for v in grid:
        index.params[grid_key] = v
        found, secs = timed_search(index, q)
        qps = len(q) / secs
        rows.append(
            {
                grid_key: v,
                "qps": round(qps, 1),
                "speedup_vs_exact": round(qps / exact_qps, 1),
                "recall@10": recall_at_10(found, exact),
            }
        )
        print(f"  {kind} {grid_key}={v}: {rows[-1]}", file=sys.stderr, flush=True)
    return {
        "params": {k: v for k, v in index.params.items() if k != grid_key},
        "build_s": round(build_s, 1),
        "search": rows,
    }


def ann_bench(args) -> dict:
    from jaxinterest.embed import embed
    from jaxinterest.retrieval import build_index

    t = time.perf_counter()
    titles = world_titles(args)
    titles_s = time.perf_counter() - t
    distinct = list(dict.fromkeys(titles))
    rng = np.random.default_rng(args.seed)
    pick = rng.permutation(len(distinct))[: args.n_real + args.n_queries]
    base_texts = [distinct[i] for i in pick[: args.n_real]]
    query_texts = [distinct[i] for i in pick[args.n_real :]]
    speed = encoder_speed(base_texts[: args.st_texts], args.batch_size)
    print(f"encoder: {speed}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    base = embed(base_texts, batch_size=args.batch_size)
    q = embed(query_texts, batch_size=args.batch_size)
    embed_s = time.perf_counter() - t
    nn = np.empty(len(base), np.float32)
    for s in range(0, len(base), 2048):  # nearest other real title, in blocks to bound memory
        sims = base[s : s + 2048] @ base.T
        sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = -1.0
        nn[s : s + 2048] = sims.max(axis=1)
    nn_cos = float(np.median(nn))
    x, noise_scale = synthesize(base, args.n_news, nn_cos, args.seed)
    ids = [f"N{i:07d}" for i in range(args.n_news)]
    t = time.perf_counter()
    flat = build_index(ids, x, kind="flat")
    flat_build = time.perf_counter() - t
    exact, exact_s = timed_search(flat, q)
    exact_qps = len(q) / exact_s
    print(f"exact: {len(q) / exact_s:.1f} q/s", file=sys.stderr, flush=True)
    del flat
    hnsw_params = {"M": args.hnsw_m, "ef_construction": args.ef_construction}
    runs = {}
    if "hnsw" in args.variants:
        runs["hnsw"] = sweep(
            "hnsw", hnsw_params, "ef_search", args.ef_grid, ids, x, q, exact, exact_qps
        )
    if "hnsw_pca" in args.variants:
        pca = {**hnsw_params, "pca_dim": args.pca_dim, "refine_factor": args.refine_factor}
        runs["hnsw_pca"] = sweep(
            "hnsw", pca, args.pca_grid_key, args.pca_grid, ids, x, q, exact, exact_qps
        )
    if "ivf" in args.variants:
        runs["ivf"] = sweep("ivf", {"nlist": args.nlist}, "nprobe", args.nprobe_grid, ids, x, q,
                            exact, exact_qps)  # fmt: skip
    best = {}
    for kind, res in runs.items():
        ok = [r for r in res["search"] if r["recall@10"] >= 0.95]
        if ok:
            best[kind] = max(ok, key=lambda r: r["qps"])
    return {
        "bench": "retrieval",
        "n_news": args.n_news,
        "n_real_embedded": len(base_texts),
        "n_queries": len(q),
        "dim": int(x.shape[1]),
        "faiss_threads": faiss.omp_get_max_threads(),
        "load_average_1_5_15_at_end": [round(v, 1) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "title_source": args.world or "paper preset via jaxinterest.data.world_news.make_news",
        "titles_seconds": round(titles_s, 1),
        "encoder": speed,
        "embed_real_titles": {
            "texts": len(base_texts) + len(q),
            "seconds": round(embed_s, 1),
            "embeddings_per_s": round((len(base_texts) + len(q)) / embed_s, 1),
        },
        "synthetic_rows": {
            "count": args.n_news - len(base_texts),
            "cos_to_base_target": round(nn_cos, 4),
            "median_nn_cos_real_titles": round(nn_cos, 4),
            "noise": "Gaussian with the real embeddings' covariance x scale",
            "noise_scale": round(noise_scale, 4),
        },
        "exact": {"build_s": round(flat_build, 1), "qps": round(len(q) / exact_s, 1)},
        **runs,
        "best_at_recall_0.95": best,
        "goal": {"recall@10": 0.95, "qps": 10_000},
        "anchor": "faiss IndexFlatIP exact search (same queries, same run)",
    }


def merge_bench(args) -> dict:
    """Compare merge methods on a world with two honest query sources (no oracle access):
    each user's own recent search queries, and the titles of their recent clicks."""
    import pyarrow.compute as pc

    from jaxinterest.data.io import load_world
    from jaxinterest.eval.recommend import EvalConfig, build_test_index, evaluate_queries
    from jaxinterest.retrieval import METHODS

    world = load_world(args.merge_world)
    ev = world.events
    sources = {}
    for domain in ("search", "click"):
        rows = ev.filter(pc.equal(ev["domain"], domain))
        per: dict[str, list[str]] = {}
        for u, t in zip(rows["user_id"].to_pylist(), rows["text"].to_pylist(), strict=True):
            per.setdefault(u, []).append(t)
        # events are sorted by time: the most recent last; keep the 10 most recent, newest first
        sources[domain] = {u: ts[::-1][:10] for u, ts in per.items()}
    index = build_test_index(world, EvalConfig())
    out = {"bench": "merge", "world": args.merge_world, "n_test_articles": len(index)}
    for name, queries in sources.items():
        for m in METHODS:
            rep, _ = evaluate_queries(world, queries, EvalConfig(merge_method=m), index=index,
                                      unknown_users="skip")  # fmt: skip
            out[f"{name}/{m}"] = {c: rep[c] for c in ("all", "warm", "cold")}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--world", help="read titles from DIR/news.parquet instead of the paper preset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-news", type=int, default=1_214_552)
    p.add_argument("--n-real", type=int, default=20_000)
    p.add_argument("--n-queries", type=int, default=10_000)
    p.add_argument("--st-texts", type=int, default=2_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=40)
    p.add_argument("--ef-grid", type=int, nargs="+", default=[16, 32, 48, 64, 96, 128])
    p.add_argument("--nlist", type=int, default=None)
    p.add_argument("--nprobe-grid", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    p.add_argument(
        "--variants",
        nargs="+",
        default=["hnsw", "hnsw_pca", "ivf"],
        choices=["hnsw", "hnsw_pca", "ivf"],
        help="approximate indexes to measure",
    )
    p.add_argument("--pca-dim", type=int, default=128)
    p.add_argument("--refine-factor", type=float, default=4.0)
    p.add_argument("--pca-grid-key", default="ef_search", choices=["ef_search", "refine_factor"])
    p.add_argument("--pca-grid", type=float, nargs="+", default=[32, 48, 64, 96])
    p.add_argument("--merge-world", help="compare merge methods on this world directory instead")
    args = p.parse_args()
    result = merge_bench(args) if args.merge_world else ann_bench(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
