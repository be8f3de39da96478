"""`jaxinterest sft`: the SFT warm start of a tiny policy (LM pretraining on the training-window
articles, then instruction tuning on weak query-list labels), with a validation report."""

from __future__ import annotations

import argparse
import json


def add_config_args(p: argparse.ArgumentParser, what: str) -> None:
    """--config FILE and repeatable --set KEY=VALUE, plus the common path flags."""
    p.add_argument("--config", metavar="FILE", help=f"{what} fields (.toml, .yaml or .json)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set instruct.lr=3e-3 (repeatable; nested keys "
        "with dots)",
    )
    p.add_argument("--world", help="world directory (= --set world=DIR)")
    p.add_argument("--out", help="run directory (= --set out=DIR)")
    p.add_argument("--policy", help="starting policy: an HF directory, smollm2 or preset:NAME")
    p.add_argument("--keep-file", help="keep.parquet from `clean --apply` (noise cleaning)")
    p.add_argument("--quiet", "--no-progress", action="store_true", help="no progress bars")


def overrides(args: argparse.Namespace) -> list[str]:
    """The path flags as --set items (before the explicit --set items, which win)."""
    flags = {"world": args.world, "out": args.out, "policy": args.policy}
    flags["keep_file"] = args.keep_file
    return [f"{k}={v}" for k, v in flags.items() if v is not None] + list(args.set)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sft",
        help="SFT warm start of a tiny policy (pretraining + weak-label instruction tuning)",
        description=(
            "Trains a tiny-family policy from scratch: next-token pretraining on the world's "
            "training-window articles, then instruction tuning on (prompt -> query list) pairs "
            "whose targets a weak labeller writes from the user's cleaned, shown behaviours. "
            "Writes OUT/policy (HF directory), OUT/metrics.jsonl, OUT/config.json and "
            "OUT/report.json (validation on the held-out last week of the training window). "
            "A rerun skips finished stages. A real checkpoint can start it too (--policy "
            "smollm2 --set pretrain.steps=0: an instruction stage that teaches it the answer "
            "format)."
        ),
    )
    add_config_args(p, "SFTConfig")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.config import load_config
    from jaxinterest.train.sft import SFTConfig, run_sft

    cfg = load_config(SFTConfig, args.config, overrides(args))
    report = run_sft(cfg, progress=not args.quiet)
    print(json.dumps(report, indent=2))
    return 0
