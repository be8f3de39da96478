"""`jaxinterest quickstart`: the whole pipeline on a tiny world, ending with a results table."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="tiny world -> cleaning -> SFT -> GRPO -> test-week table (resumable)",
        description=(
            "Generates a tiny synthetic world, trains the n-gram noise classifier and cleans the "
            "behaviours, warm-starts a tiny policy with SFT (pretraining + weak-label "
            "instruction tuning), trains it with Dr.GRPO on the five rewards, and evaluates on "
            "the test week: popularity, own searches, the SFT policy and the GRPO policy "
            "(Recall@10, NDCG@10, MRR; all and cold users). Every stage writes into OUT and is "
            "skipped on a rerun once finished, so rerunning the same command continues an "
            "interrupted run (GRPO from its latest checkpoint). OUT/stages.json records each "
            "stage's wall and CPU seconds."
        ),
    )
    p.add_argument("--out", help="run directory (default runs/quickstart; = --set out=DIR)")
    p.add_argument("--config", metavar="FILE", help="QuickstartConfig fields (.toml/.yaml/.json)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field, e.g. --set grpo.steps=20 or --set sft.instruct.steps=100 "
        "(repeatable; nested keys with dots)",
    )
    p.add_argument("--quiet", "--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.config import load_config
    from jaxinterest.train.quickstart import QuickstartConfig, run_quickstart

    overrides = ([f"out={args.out}"] if args.out else []) + list(args.set)
    cfg = load_config(QuickstartConfig, args.config, overrides)
    result = run_quickstart(cfg, progress=not args.quiet)
    seconds = {k: v["seconds"] for k, v in result["stages"].items()}
    print()
    print(result["table"])
    print()
    print(f"run directory: {result['out']} (evaluation.json, table.md, stages.json)")
    print(f"stage seconds: {json.dumps(seconds)}")
    return 0
