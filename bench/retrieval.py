"""Retrieval bench: ANN build time, queries/s and recall@10 vs exact search at the paper's news
count, plus our JAX encoder's embeddings/s vs sentence-transformers on the same texts.

Prints ONE JSON object. What it does, exactly:

1. Titles: the world's `paper`-preset news titles (1,214,552 articles, generated in-process with
   the world's own news generator; or `--world DIR` reads DIR/news.parquet).
2. Encoder: `--st-texts` titles are embedded by our `embed` (after one warm-up pass that compiles
   every bucket shape) and by sentence-transformers (CPU, same batch size); both timed on the
   same texts, ratio = ours / theirs.
3. Real embeddings: `--n-queries` held-out distinct titles (queries) and `--n-real` other distinct
   titles (index base) are embedded with our encoder (timed: embeddings/s at scale; `--cache
   DIR` keeps them for later runs). The paper world has 303,925 distinct titles among its
   1,214,552 articles; embedding them all is ~11 min at ~470/s on these shared cores, so:
4. The index holds the n_real real vectors plus (n_news - n_real) filler rows, each a real base
   vector plus Gaussian noise with the real embeddings' covariance (`--filler iso`: isotropic
   noise instead), re-normalised. The noise scale is calibrated so cos(copy, its base) equals
   the median nearest-neighbour cosine among the real titles: a copy sits as close to its base
   as real titles sit to each other.
5. Exact search (IndexFlatIP through our `retrieve`) gives the reference top-10 and the anchor
   queries/s; each variant (`--variants`, settings in VARIANTS, overridable with `--build` and
   `--grid`) is built once, then every search setting is timed on the whole query batch and
   scored by recall@10 = |approx top-10 & exact top-10| / 10, averaged over queries.

Is the filler harder than real data? Calibration at 100,000 rows, same 10,000 queries
(`--n-news 100000 --st-texts 0 --variants ivfpq hnsw --build ivfpq:m=96` with `--n-real 100000`
= all real, or `--n-real 20000` + 80,000 filler), recall@10:

    data                     hnsw ef16 / 32 / 64     ivfpq nprobe 16 / 24 / 32 (refine 8)
    100k real titles         .946 / .975 / .990      .912 / .934 / .947
    20k real + 80k cov fill  .940 / .976 / .993      .885 / .914 / .931
    20k real + 80k iso fill  .931 / .970 / .988      .890 / .918 / .934

The covariance filler matches real data for HNSW and is slightly harder for IVF-PQ (recall
.016-.027 lower at the same nprobe); isotropic noise is a little harder again for HNSW. So the
1.2M figures are, if anything, pessimistic for IVF-PQ; the filler is left as it is.

`--merge-world DIR` instead compares the merge methods on a generated world (see merge_bench).
Run: flock /work/bench.lock /work/venv/bin/python bench/retrieval.py --cache /tmp/ann/cache
(~8 min with the default variant ivfpq on 2 shared cores, embeddings cached; HNSW builds add
3-10 min each)
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


def synthesize(base: np.ndarray, n_total: int, cos_target: float, seed: int, noise: str = "cov"):
    """base rows first, then n_total - len(base) noisy copies of random base rows (unit norm).

    noise "cov": Gaussian with the real embeddings' own covariance (so copies stay in the
    low-dimensional region real titles occupy instead of spreading over all 384 directions);
    "iso": isotropic Gaussian (kept to measure how much harder that makes the data). Either is
    scaled so the median cos(copy, its base) is `cos_target`. Returns (rows, scale).
    """
    rng = np.random.default_rng(seed)
    n, d = base.shape
    if noise == "iso":
        shape = np.eye(d, dtype=np.float32)
    else:
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


def median_nn_cos(base: np.ndarray) -> float:
    """Median over rows of the cosine to the nearest other row (blocks bound the memory)."""
    nn = np.empty(len(base), np.float32)
    for s in range(0, len(base), 2048):
        sims = base[s : s + 2048] @ base.T
        sims[np.arange(len(sims)), np.arange(s, s + len(sims))] = -1.0
        nn[s : s + 2048] = sims.max(axis=1)
    return float(np.median(nn))


def recall_at_10(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)]))


def timed_search(index, q: np.ndarray, k: int = 10):
    from jaxinterest.retrieval import retrieve

    t = time.perf_counter()
    ids, _ = retrieve(index, q, k)
    return ids, time.perf_counter() - t


def sweep(kind, build, grid, ids, x, q, exact, exact_qps, repeats: int = 3) -> dict:
    """Build one index of `kind` (build params), then time/score every combination of the
    search params in `grid` ({name: [values]}). Each search runs `repeats` times because the
    other jobs on the shared cores swing queries/s by up to 2x: qps is the median, qps_runs all.
    speedup_vs_exact = qps / exact search's qps in this run (the anchor; load-independent-ish)."""
    import itertools

    from jaxinterest.retrieval import build_index

    t = time.perf_counter()
    index = build_index(ids, x, kind=kind, params=build)
    build_s = time.perf_counter() - t
    built = dict(index.params)
    rows = []
    for combo in itertools.product(*grid.values()):
        setting = dict(zip(grid, combo, strict=True))
        index.params.update(setting)
        runs = [timed_search(index, q) for _ in range(repeats)]
        found = runs[0][0]
        qps = float(np.median([len(q) / secs for _, secs in runs]))
        rows.append(
            {
                **setting,
                "qps": round(qps, 1),
                "qps_runs": [round(len(q) / secs) for _, secs in runs],
                "speedup_vs_exact": round(qps / exact_qps, 1),
                "recall@10": recall_at_10(found, exact),
            }
        )
        print(f"  {kind} {rows[-1]}", file=sys.stderr, flush=True)
    return {
        "kind": kind,
        "params": {k: v for k, v in built.items() if k not in grid},
        "build_s": round(build_s, 1),
        "search": rows,
    }


# variant name -> (kind, build params, search grid); --build / --grid override per variant
VARIANTS = {
    "hnsw": ("hnsw", {"M": 32}, {"ef_search": [32, 64, 96, 128]}),
    "hnsw_pca": ("hnsw", {"pca_dim": 128}, {"ef_search": [64, 128], "refine_factor": [4, 8]}),
    "hnsw_sq": ("hnsw_sq", {"M": 32}, {"ef_search": [32, 64, 128], "refine_factor": [2, 4]}),
    "ivf": ("ivf", {}, {"nprobe": [16, 32, 48]}),
    "ivfpq": ("ivfpq", {}, {"nprobe": [24, 32, 40, 48], "refine_factor": [6, 8, 12]}),
}


def parse_settings(spec: str) -> tuple[str, dict]:
    """'VARIANT:key=v1/v2,key=v' -> (variant, {key: [v1, v2], ...}) with numbers parsed."""
    name, _, body = spec.partition(":")
    if name not in VARIANTS or not body:
        raise SystemExit(f"bad setting {spec!r}: want VARIANT:key=v1/v2,... with VARIANT in "
                         f"{sorted(VARIANTS)}")  # fmt: skip
    out = {}
    for item in body.split(","):
        key, _, vals = item.partition("=")
        out[key] = [json.loads(v) for v in vals.split("/")]
    return name, out


def real_embeddings(args, distinct: list[str]):
    """Embeddings of n_queries held-out titles and n_real base titles, float32 [Q, D], [R, D].

    Titles are a fixed-seed permutation of the distinct titles: queries first, then the base,
    so runs with different n_real share their queries and a smaller base is a prefix of a
    larger one. `--cache DIR` keeps the embeddings in DIR/real_<seed>.npz (with a hash of the
    titles they belong to) and reuses any cached prefix; the timing is of the uncached part.
    """
    import hashlib

    from jaxinterest.embed import embed

    order = np.random.default_rng(args.seed).permutation(len(distinct))
    need = args.n_queries + args.n_real
    if need > len(distinct):
        raise ValueError(f"{need} real titles wanted, the world has {len(distinct)} distinct")
    texts = [distinct[i] for i in order[:need]]
    path = os.path.join(args.cache, f"real_{args.seed}.npz") if args.cache else None
    cached = np.zeros((0, 384), np.float32)
    if path and os.path.exists(path):
        z = np.load(path)
        lengths = sorted((int(k[4:]) for k in z.files if k.startswith("sha_")), reverse=True)
        for n in (n for n in lengths if n <= need):  # the longest prefix of these titles
            if hashlib.sha1("\n".join(texts[:n]).encode()).hexdigest() == str(z[f"sha_{n}"]):
                cached = z["emb"][:n]
                break
    t = time.perf_counter()
    fresh = embed(texts[len(cached) :], batch_size=args.batch_size)
    embed_s = time.perf_counter() - t
    emb = np.concatenate([cached, fresh]) if len(cached) else fresh
    if path and len(fresh):
        os.makedirs(args.cache, exist_ok=True)
        # one hash per prefix length a later run may ask for (queries + any n_real <= need)
        sha = {f"sha_{n}": hashlib.sha1("\n".join(texts[:n]).encode()).hexdigest()
               for n in _prefixes(args.n_queries, need)}  # fmt: skip
        np.savez(path, emb=emb, **sha)
    stats = {
        "texts": len(fresh),
        "cached": len(cached),
        "seconds": round(embed_s, 1),
        "embeddings_per_s": round(len(fresh) / embed_s, 1) if len(fresh) else None,
    }
    return emb[: args.n_queries], emb[args.n_queries :], texts[args.n_queries :], stats


def _prefixes(n_queries: int, need: int) -> list[int]:
    """Prefix lengths whose title hash the cache records: every 10,000 base titles, and all."""
    return sorted({*range(n_queries, need, 10_000), need})


def ann_bench(args) -> dict:
    from jaxinterest.retrieval import build_index

    t = time.perf_counter()
    titles = world_titles(args)
    titles_s = time.perf_counter() - t
    distinct = list(dict.fromkeys(titles))
    q, base, base_texts, embed_stats = real_embeddings(args, distinct)
    speed = encoder_speed(base_texts[: args.st_texts], args.batch_size) if args.st_texts else None
    print(f"encoder: {speed}", file=sys.stderr, flush=True)
    nn_cos = median_nn_cos(base) if args.n_news > len(base) else float("nan")  # no filler
    if args.n_news < len(base):
        raise SystemExit(f"--n-news {args.n_news} < --n-real {len(base)}")
    x, noise_scale = base, 0.0
    if args.n_news > len(base):
        x, noise_scale = synthesize(base, args.n_news, nn_cos, args.seed, args.filler)
    ids = [f"N{i:07d}" for i in range(args.n_news)]
    t = time.perf_counter()
    flat = build_index(ids, x, kind="flat")
    flat_build = time.perf_counter() - t
    exact, exact_s = timed_search(flat, q)
    exact_qps = len(q) / exact_s
    print(f"exact: {len(q) / exact_s:.1f} q/s", file=sys.stderr, flush=True)
    del flat
    builds = dict(parse_settings(b) for b in args.build)
    grids = dict(parse_settings(g) for g in args.grid)
    runs = {}
    for name in args.variants:
        kind, build, grid = VARIANTS[name]
        build = {**build, **{k: v[0] for k, v in builds.get(name, {}).items()}}
        runs[name] = sweep(kind, build, grids.get(name, grid), ids, x, q, exact, exact_qps,
                           args.repeats)  # fmt: skip
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
        "embed_real_titles": embed_stats,
        "synthetic_rows": {
            "count": args.n_news - len(base_texts),
            "cos_to_base_target": None if np.isnan(nn_cos) else round(nn_cos, 4),
            "noise": {
                "cov": "Gaussian with the real embeddings' covariance x scale",
                "iso": "isotropic Gaussian x scale",
            }[args.filler],  # fmt: skip
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
    p.add_argument("--cache", help="keep/reuse the real title embeddings in this directory")
    p.add_argument("--world", help="read titles from DIR/news.parquet instead of the paper preset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-news", type=int, default=1_214_552)
    p.add_argument("--n-real", type=int, default=20_000)
    p.add_argument("--n-queries", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per search setting")
    p.add_argument("--filler", choices=["cov", "iso"], default="cov",
                   help="noise of the synthetic rows (see synthesize)")  # fmt: skip
    p.add_argument("--st-texts", type=int, default=2_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument(
        "--variants",
        nargs="+",
        default=["ivfpq"],
        choices=sorted(VARIANTS),
        help="approximate indexes to measure (see VARIANTS for their default settings)",
    )
    p.add_argument("--build", nargs="*", default=[], metavar="VARIANT:key=v,...",
                   help="build params of a variant, e.g. ivfpq:m=96,nlist=4096")  # fmt: skip
    p.add_argument("--grid", nargs="*", default=[], metavar="VARIANT:key=v1/v2,...",
                   help="search grid of a variant, e.g. ivfpq:nprobe=16/32")  # fmt: skip
    p.add_argument("--merge-world", help="compare merge methods on this world directory instead")
    args = p.parse_args()
    result = merge_bench(args) if args.merge_world else ann_bench(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
