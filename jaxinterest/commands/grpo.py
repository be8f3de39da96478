"""`jaxinterest grpo`: Dr.GRPO training of a policy on the composite reward (resumable)."""

from __future__ import annotations

import argparse
import json

from jaxinterest.commands.sft import add_config_args, overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grpo",
        help="Dr.GRPO on the five rewards: rollouts, updates, validation, checkpoints",
        description=(
            "Per iteration: a Grain batch of training users -> prompts -> G samples each -> "
            "host rewards -> Dr.GRPO advantages -> inner-epoch updates of the jitted step. "
            "Validates on the held-out last week of the training window, logs every iteration "
            "to OUT/metrics.jsonl (and OUT/tb with tensorboardX), checkpoints with Orbax "
            "(last N + best by validation Recall@10) and writes OUT/policy and OUT/best. "
            "--resume continues the latest checkpoint exactly."
        ),
    )
    add_config_args(p, "GRPOConfig")
    p.add_argument(
        "--resume", action="store_true", help="continue from the run directory's latest checkpoint"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.config import load_config
    from jaxinterest.train.grpo import GRPOConfig
    from jaxinterest.train.loop import run_grpo

    cfg = load_config(GRPOConfig, args.config, overrides(args))
    summary = run_grpo(cfg, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0
