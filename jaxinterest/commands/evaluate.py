"""`jaxinterest evaluate`: score query lists per user on a world's test week.

Queries come from a file (JSONL `{"user_id", "queries"}` lines or one JSON object user -> list)
or from a reference recommender. The report (metrics for all / warm / cold users, every skip
counted, the configuration) is written to --out and printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from jaxinterest.eval.oracle import ORACLE_RECOMMENDERS
    from jaxinterest.eval.reference import RECOMMENDERS

    p = sub.add_parser(
        "evaluate",
        help="queries per user -> test-week retrieval -> Recall/NDCG/MRR (all/warm/cold)",
        description=(
            "Embeds each user's queries, retrieves top-K articles per query from the test-week "
            "news index, merges them per user (training-window clicks removed) and scores the "
            "list against the user's test-week clicks."
        ),
    )
    p.add_argument("--world", required=True, help="world directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--queries", metavar="FILE", help="JSONL or JSON queries per user")
    src.add_argument(
        "--recommender",
        choices=RECOMMENDERS + ORACLE_RECOMMENDERS,
        help="reference query generator; oracle-interests / oracle-any are ceiling diagnostics "
        "that read the latent interests (oracle/), never a model input",
    )
    p.add_argument("--out", required=True, help="report JSON path")
    p.add_argument(
        "--n-queries",
        type=int,
        default=10,
        help="queries per user for the reference recommenders (default 10)",
    )
    clean = p.add_mutually_exclusive_group()
    clean.add_argument(
        "--clean-model",
        metavar="MODEL_DIR",
        help="noise classifier applied before own-searches picks queries",
    )
    clean.add_argument(
        "--keep-file",
        metavar="FILE",
        help="keep.parquet from `clean --apply`, used like --clean-model",
    )
    p.add_argument(
        "--unknown-users",
        choices=("raise", "skip"),
        default="raise",
        help="query users missing from the world: error (default) or count and skip",
    )
    p.add_argument("--k", type=int, default=10, help="merged list length per user")
    p.add_argument("--per-query-k", type=int, default=10, help="articles retrieved per query")
    p.add_argument("--merge", help="per-user merge method (default: the retrieval module's)")
    p.add_argument("--index-kind", default="flat", help="flat (exact) | hnsw | ivf")
    p.add_argument("--article-text", choices=("title", "title_abstract"), default="title")
    p.add_argument("--ranked-out", metavar="FILE", help="also write ranked lists as JSONL")
    p.add_argument("--seed", type=int, default=0, help="seed of shuffled-searches")
    p.add_argument(
        "--strict",
        action="store_true",
        help="reject users with more than 50 events in a domain and cold flags that disagree "
        "with the training clicks (default: keep the 50 most recent, derive the flag; counted)",
    )
    p.set_defaults(func=run)


def _keep_mask(args, world):
    """bool [N events] from --clean-model or --keep-file, or None."""
    import numpy as np
    import pyarrow.parquet as pq

    from jaxinterest.clean import filter_events, load_classifier
    from jaxinterest.data.columns import column

    if args.clean_model:
        # own-searches reads search events only, so only those are classified (the rest are
        # never used); the mask still covers every event row.
        domains = np.array(column(world.events, "domain"))
        only_search = args.recommender == "own-searches"
        rows = np.flatnonzero(domains == "search") if only_search else np.arange(len(domains))
        mask = np.ones(len(domains), bool)
        mask[rows] = filter_events(
            world.events.take(rows), load_classifier(args.clean_model), progress=True
        )
        return mask
    if args.keep_file:
        t = pq.read_table(args.keep_file)
        by_id = dict(zip(column(t, "event_id"), column(t, "keep"), strict=True))
        ids = column(world.events, "event_id")
        missing = [e for e in ids if e not in by_id]
        if missing:
            raise KeyError(
                f"{args.keep_file}: no keep value for event_id {missing[0]} "
                f"({len(missing)} events missing)"
            )
        return np.array([bool(by_id[e]) for e in ids])
    return None


def run(args: argparse.Namespace) -> int:
    from jaxinterest.data.io import load_world
    from jaxinterest.eval.ceiling import queries_for
    from jaxinterest.eval.oracle import NOTICE, ORACLE_RECOMMENDERS
    from jaxinterest.eval.recommend import EvalConfig, evaluate_queries, load_queries
    from jaxinterest.eval.reference import reference_queries
    from jaxinterest.retrieval.merge import DEFAULT_METHOD

    t0 = time.perf_counter()
    world = load_world(args.world, strict=args.strict)
    if (args.clean_model or args.keep_file) and args.recommender not in (
        "own-searches",
        "recent-behaviours",
    ):
        raise ValueError(
            "--clean-model/--keep-file apply to --recommender own-searches / recent-behaviours"
        )
    keep = _keep_mask(args, world)
    if args.queries:
        queries, source = load_queries(args.queries), {"queries_file": args.queries}
    else:
        if keep is not None:
            queries = reference_queries(world, args.recommender, args.n_queries, keep, args.seed)
        else:
            queries = queries_for(world, args.recommender, args.n_queries, args.seed)
        source = {
            "recommender": args.recommender,
            "n_queries": args.n_queries,
            "cleaned_by": args.clean_model or args.keep_file,
        }
        if args.recommender in ORACLE_RECOMMENDERS:
            source["notice"] = NOTICE
    cfg = EvalConfig(
        k=args.k,
        per_query_k=args.per_query_k,
        merge_method=args.merge or DEFAULT_METHOD,
        index_kind=args.index_kind,
        article_text=args.article_text,
    )
    report, ranked = evaluate_queries(
        world, queries, cfg, unknown_users=args.unknown_users, progress=True
    )
    report = {
        "world": str(args.world),
        "adjusted_by_loader": {f: dict(c) for f, c in world.adjusted.items()},
        **source,
        **report,
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    if args.ranked_out:
        with open(args.ranked_out, "w") as f:
            for u, lst in ranked.items():
                f.write(json.dumps({"user_id": u, "ranked": lst}) + "\n")
    print(json.dumps(report, indent=2))
    return 0
