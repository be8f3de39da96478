"""The weak labeller's own retrieval metrics on validation users, beside the references.

    python experiments/weak_labels.py --world runs/small --work runs/weak_small \
        [--max-prompt-tokens 320] [--set decay=0.9 ...]

Cleans the world with the n-gram noise classifier (`jaxinterest clean`, trained on the train
users' noise labels; reused from --work when present), holds out the last 7 days of the
training window for the validation users (`train.validation.holdout_world`), and scores on it,
with `evaluate_queries`: the labeller's lists (from the view the prompt shows under the given
token budget), own-searches and recent-behaviours (cleaned, with the labeller's number of
queries and with 10). Prints one JSON object. The test week is never read.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
from pathlib import Path


def clean_world(world_dir: Path, work: Path) -> Path:
    """keep.parquet of the world under `work` (n-gram classifier), made once."""
    from jaxinterest.cli import main

    keep = work / "clean" / "keep.parquet"
    if not keep.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            args = ["clean", "--train", str(world_dir), "--out", str(work / "clean_model")]
            if main([*args, "--model", "ngram", "--splits", "none"]):
                raise SystemExit("clean --train failed")
            args = ["clean", "--apply", str(work / "clean_model"), "--world", str(world_dir)]
            if main([*args, "--out", str(work / "clean")]):
                raise SystemExit("clean --apply failed")
    return keep


def main() -> None:
    import numpy as np
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.config import apply_overrides, from_dict, to_dict
    from jaxinterest.data import PromptConfig, load_world
    from jaxinterest.data.columns import column
    from jaxinterest.eval import EvalConfig, evaluate_queries
    from jaxinterest.eval.reference import own_searches, recent_behaviours
    from jaxinterest.rewards.view import ViewBuilder
    from jaxinterest.tokenizer import tiny_tokenizer
    from jaxinterest.train.validation import holdout_world
    from jaxinterest.train.weak_labels import LabelConfig, fit_stats, label

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path, help="directory for the cleaning model")
    ap.add_argument("--max-prompt-tokens", type=int, default=320)
    ap.add_argument("--system-prompt", default="You write news search queries for a user.")
    ap.add_argument("--days", type=int, default=7, help="validation window (days)")
    ap.add_argument("--set", action="append", default=[], help="LabelConfig override k=v")
    args = ap.parse_args()

    cfg = from_dict(LabelConfig, apply_overrides(to_dict(LabelConfig()), LabelConfig, args.set))
    keep_table = pq.read_table(clean_world(args.world, args.work))
    clean_fn = KeepLookup(keep_table)
    world = load_world(args.world, parts=("news", "events", "users"))
    prompt_cfg = PromptConfig(
        n_queries=cfg.n_queries,
        max_prompt_tokens=args.max_prompt_tokens,
        system_prompt=args.system_prompt,
    )
    tok = tiny_tokenizer()
    split = dict(zip(column(world.users, "user_id"), column(world.users, "split"), strict=True))
    train_views = ViewBuilder(world, clean_fn, tok, prompt_cfg)
    stats = fit_stats(train_views.view(u) for u, s in split.items() if s == "train")
    val = holdout_world(world, days=args.days)
    views = ViewBuilder(val, clean_fn, tok, prompt_cfg)
    users = column(val.users, "user_id")
    labelled = {u: label(views.view(u), stats, cfg) for u in users}

    # the references read the same cleaned events (keep mask over the holdout's event rows)
    keep = clean_fn(val.events)
    sources = {
        "weak_labels": labelled,
        f"own_searches_{cfg.n_queries}": own_searches(val, cfg.n_queries, keep),
        f"recent_behaviours_{cfg.n_queries}": recent_behaviours(val, cfg.n_queries, keep),
        "own_searches_10": own_searches(val, 10, keep),
        "recent_behaviours_10": recent_behaviours(val, 10, keep),
    }
    from jaxinterest.eval.recommend import build_test_index

    ecfg = EvalConfig()
    index = build_test_index(val, ecfg)
    out = {
        "world": str(args.world),
        "holdout": val.meta["holdout"],
        "label_config": dataclasses.asdict(cfg),
        "max_prompt_tokens": args.max_prompt_tokens,
        "mean_queries": float(np.mean([len(q) for q in labelled.values()])),
        "examples": {u: labelled[u] for u in users[:3]},
    }
    for name, queries in sources.items():
        rep, _ = evaluate_queries(val, queries, ecfg, index=index)
        out[name] = {
            c: {m: rep[c][m] for m in ("recall@10", "ndcg@10", "mrr")} for c in ("all", "cold")
        }
        out[name]["stderr_recall@10"] = rep["all"]["stderr"]["recall@10"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
