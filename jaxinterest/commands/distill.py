"""`jaxinterest distill`: on-policy distillation of a teacher into a student (paper eq. 10), or
one of Table 3's baselines on the same budget: `--method supervised` (sequence-level KD) or
`--method grpo` (no distillation: the student trained with Dr.GRPO).

The run is described by `train.distill_run.DistillConfig`: a TOML/YAML/JSON file (--config),
then the flags below, then `--set key=value` overrides (e.g. `--set optim.lr=1e-4`). Rerunning
with the same --out resumes from the last checkpoint (bitwise the uninterrupted run); another
config into the same --out is refused.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

# flag -> config key (a flag left unset keeps the file's / default value)
FLAGS = {
    "world": "world",
    "teacher": "teacher",
    "student": "student",
    "out": "out",
    "method": "method",
    "estimator": "estimator",
    "teacher_dtype": "teacher_dtype",
    "steps": "steps",
    "keep_file": "keep_file",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill",
        help="on-policy distillation (or supervised KD) of a teacher into a student",
        description=(
            "The student samples query lists for batches of training users; the teacher "
            "scores the student's own prefixes; the student minimises the per-token reverse "
            "KL (estimator exact: full vocabulary, local teacher; sampled: sampled-token "
            "advantage, local teacher or an OpenAI-compatible log-prob server URL). "
            "--method supervised fine-tunes the student on the teacher's samples instead; "
            "--method grpo trains it with Dr.GRPO and no teacher (Table 3's no-distillation "
            "row), on the same budget. "
            "Writes metrics.jsonl, checkpoints/, policy/ and report.json (validation of "
            "teacher and student before and after, and the share of the gap closed) to --out."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="TOML / YAML / JSON DistillConfig")
    p.add_argument("--world", help="world directory")
    p.add_argument(
        "--teacher", help="checkpoint directory, 'preset:NAME', 'smollm2' or http(s) URL"
    )
    p.add_argument("--student", help="checkpoint directory (e.g. `jaxinterest sft` policy/)")
    p.add_argument("--out", help="run directory (resumed when it holds this run)")
    p.add_argument("--method", choices=("on_policy", "supervised", "grpo"),
                   help="on_policy (default); Table 3 baselines: supervised, grpo")  # fmt: skip
    p.add_argument("--estimator", choices=("exact", "sampled"))
    p.add_argument("--teacher-dtype", choices=("float32", "bfloat16"))
    p.add_argument("--steps", type=int)
    p.add_argument("--keep-file", help="keep.parquet from `clean --apply`")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field (repeatable)")  # fmt: skip
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.add_argument("--no-progress", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def resolve(args: argparse.Namespace):
    from jaxinterest.config import load_config
    from jaxinterest.train.distill_run import DistillConfig

    flags = [f"{key}={getattr(args, name)}" for name, key in FLAGS.items()
             if getattr(args, name) is not None]  # fmt: skip
    cfg = load_config(DistillConfig, args.config, [*flags, *args.set])
    if not any(s.startswith("optim.total_steps") for s in args.set):
        # the schedule follows the run's length unless it was set explicitly
        optim = dataclasses.replace(
            cfg.optim,
            total_steps=cfg.steps,
            warmup_steps=min(cfg.optim.warmup_steps, cfg.steps - 1),
        )
        cfg = dataclasses.replace(cfg, optim=optim)
    return cfg


def run(args: argparse.Namespace) -> int:
    from jaxinterest.config import dump_toml
    from jaxinterest.train.distill_run import run_distill

    cfg = resolve(args)
    if args.print_config:
        print(dump_toml(cfg), end="")
        return 0
    report = run_distill(cfg, progress=not args.no_progress)
    print(json.dumps(report, indent=2))
    print(f"distill: {cfg.method} -> {cfg.out}/policy")
    return 0
