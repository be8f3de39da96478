"""Reusing a finished training run instead of training the same policy twice.

Several tables train a policy that another script has already trained: Table 3's "none" row is
GRPO from the student's warm start under the recipe, which Figure 2's cell of that model and
seed has run; Table 5's full-reward variant is the teacher; Table 3's on-policy distillation is
Table 2's student. A stage given candidate run directories (`reuse`) looks for a finished one
of its own kind (a GRPO run: `summary.json`; a distillation: `report.json` with its final
`steps`) whose saved config would train the same policy (`training_key`: the same world, start
policy, teacher, keep mask and every field that changes training) and links its output
directory to it. Fields that only decide what is logged or kept may differ: the teacher's run
validated every 100 iterations, Table 5's does not, and both trained the same weights to the
last digit.
"""

from __future__ import annotations

import json
from pathlib import Path

# GRPOConfig fields that change what a run writes beside the policy, never the policy itself
NOT_TRAINING = ("out", "eval_every", "checkpoint_every", "keep_last", "validation_days",
                "validation_samples")  # fmt: skip
# DistillConfig fields of the same kind. Its validation fields stay in the key: they decide the
# run's report.json (the share of the teacher-student gap closed), which the tables read.
NOT_TRAINING_DISTILL = ("out", "checkpoint_every", "keep_last")
# RewardConfig fields that size caches
NOT_TRAINING_REWARDS = ("text_cache_size", "user_cache_size")
PATHS = ("world", "policy", "keep_file", "teacher", "student")


def training_key(saved: dict, ignore=NOT_TRAINING) -> dict:
    """The parts of a saved GRPO config (a run's config.json) that decide the trained policy,
    paths resolved so a relative and an absolute spelling of one directory compare equal;
    `ignore`: the fields left out (NOT_TRAINING_DISTILL for a distillation's config)."""
    key = {k: v for k, v in saved.items() if k not in ignore}
    for k in PATHS:
        if key.get(k) and Path(key[k]).exists():  # not a spec such as "preset:tiny-2m"
            key[k] = str(Path(key[k]).resolve())
    if isinstance(key.get("rewards"), dict):
        key["rewards"] = {k: v for k, v in key["rewards"].items() if k not in NOT_TRAINING_REWARDS}
    return key


def config_dict(cfg) -> dict:
    """A GRPOConfig as its run would save it in config.json (JSON types: lists, not tuples)."""
    from jaxinterest.config import to_dict

    return json.loads(json.dumps(to_dict(cfg)))


def finished(run: Path, distill: bool) -> bool:
    """Whether `run` holds a finished run of its kind: a GRPO run writes summary.json at its
    end; a distillation writes report.json at its start and adds `steps` at its end."""
    if not distill:
        return (run / "summary.json").is_file()
    report = run / "report.json"
    return report.is_file() and "steps" in json.loads(report.read_text())


def find_finished(cfg, candidates) -> Path | None:
    """The first candidate directory holding a finished run of cfg's kind (a GRPOConfig or a
    DistillConfig) that trained what `cfg` would train; None when there is none."""
    from jaxinterest.train.distill_run import DistillConfig
    from jaxinterest.train.grpo import GRPOConfig
    from jaxinterest.train.loop import resolve_prompt

    distill = isinstance(cfg, DistillConfig)
    ignore = NOT_TRAINING_DISTILL if distill else NOT_TRAINING
    want = training_key(config_dict(cfg if distill else resolve_prompt(cfg)), ignore)
    defaults = config_dict(DistillConfig() if distill else GRPOConfig())
    for c in map(Path, candidates):
        saved_path = c / "config.json"
        if not (saved_path.is_file() and finished(c, distill)):
            continue
        # a field added to the config class since the run counts at its default, as a resume does
        saved = defaults | json.loads(saved_path.read_text())
        if saved.keys() == defaults.keys() and training_key(saved, ignore) == want:
            return c
    return None


def link_run(out: Path, source: Path) -> None:
    """Makes `out` a link to the finished run `source` (its summary, metrics and policy are then
    read through `out`); the run directory depends on `source` from then on."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.symlink_to(source.resolve(), target_is_directory=True)
