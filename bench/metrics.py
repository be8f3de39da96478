"""Speed of ranking_metrics against ranx on the same random rankings; prints one JSON object.

Both compute Recall@5/10, NDCG@5/10 and MRR over U users with 10-item ranked lists; ranx's
numba kernels are compiled by a warm-up call before timing. The two results are also compared.
Usage: python bench/metrics.py [--users 100000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=5_000)
    args = ap.parse_args()
    from ranx import Qrels, Run, evaluate

    from jaxinterest.eval.metrics import ranking_metrics

    rng = np.random.default_rng(0)
    ranked = [
        [f"N{i}" for i in rng.choice(args.items, 10, replace=False)] for _ in range(args.users)
    ]
    relevant = [{f"N{i}" for i in rng.integers(0, args.items, rng.integers(1, 8))} for _ in ranked]
    names = ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr"]

    t0 = time.perf_counter()
    ours = ranking_metrics(ranked, relevant)
    ours_s = time.perf_counter() - t0

    qrels = Qrels({f"u{u}": {x: 1 for x in s} for u, s in enumerate(relevant)})
    run = Run({f"u{u}": {x: float(10 - i) for i, x in enumerate(r)} for u, r in enumerate(ranked)})
    evaluate(qrels, run, names, make_comparable=True)  # compile numba kernels
    t0 = time.perf_counter()
    theirs = evaluate(qrels, run, names, make_comparable=True)
    ranx_s = time.perf_counter() - t0
    max_diff = max(abs(ours[n] - float(theirs[n])) for n in names)
    print(
        json.dumps(
            {
                "users": args.users,
                "ours_seconds": round(ours_s, 3),
                "ranx_seconds_evaluate_only": round(ranx_s, 3),
                "ratio_ours_over_ranx": round(ours_s / ranx_s, 3),
                "note": "ranx time excludes building Qrels/Run; ours includes id encoding",
                "max_abs_diff": max_diff,
            }
        )
    )


if __name__ == "__main__":
    main()
