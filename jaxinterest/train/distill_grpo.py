"""Table 3's "no distillation" row: the student trained with Dr.GRPO instead of a teacher.

`jaxinterest distill --method grpo` runs `train.loop.run_grpo` on the student with the budget of
the distillation run it is compared with: the same steps, users per step (`batch_size` ->
`prompts_per_step`), lists per user (`samples` -> `group_size`), answer length, temperature,
optimiser and seed, and one update per rollout (`inner_epochs` 1), so each row of Table 3 samples
the same number of lists and takes the same number of updates; only the learning signal differs
(the composite reward here, the teacher there).

Output directory (`cfg.out`): config.json (the DistillConfig), grpo/ (the GRPO run directory,
resumed when it holds checkpoints), policy -> grpo/policy (a symlink, so every method leaves
its student at out/policy) and report.json in the layout of `distill_run.run_distill`: the
validation of the student before and after (and of the teacher, when one is given, with the
share of the gap closed).
"""

from __future__ import annotations

import json
from pathlib import Path


def grpo_config(cfg):
    """The GRPOConfig of a DistillConfig (see the module docstring)."""
    from jaxinterest.rewards.config import RewardConfig
    from jaxinterest.train.grpo import GRPOConfig

    if cfg.samples < 2:
        raise ValueError(f"method grpo needs samples >= 2 (a group of one has advantage 0), "
                         f"got {cfg.samples}")  # fmt: skip
    return GRPOConfig(
        world=cfg.world, policy=cfg.student, out=str(Path(cfg.out) / "grpo"),
        keep_file=cfg.keep_file, seed=cfg.seed, steps=cfg.steps,
        prompts_per_step=cfg.batch_size, group_size=cfg.samples, temperature=cfg.temperature,
        max_new_tokens=cfg.max_new_tokens, inner_epochs=1, micro_batches=cfg.micro_batches,
        optim=cfg.optim, eval_every=0, checkpoint_every=cfg.checkpoint_every,
        validation_samples=cfg.validation_samples,
        keep_last=cfg.keep_last, validation_days=cfg.validation_days, prompt=cfg.prompt,
        rewards=RewardConfig(n_queries=cfg.prompt.n_queries),
    )  # fmt: skip


def run_no_distill(cfg, *, progress: bool = True) -> dict:
    """GRPO on the student (module docstring). Returns the report."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.io import load_world
    from jaxinterest.train.distill_eval import Validator
    from jaxinterest.train.distill_run import check_out, gap_closed
    from jaxinterest.train.loop import run_grpo
    from jaxinterest.train.policy import Policy, load_policy
    from jaxinterest.train.teacher import LocalTeacher, load_teacher

    if not cfg.world or not cfg.student:
        raise ValueError("DistillConfig needs world and student (teacher is optional for grpo)")
    gcfg = grpo_config(cfg)
    out = Path(cfg.out)
    check_out(out, cfg)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    validator = None
    if cfg.validate:
        world = load_world(cfg.world, parts=("news", "events", "users"))
        clean_fn = KeepLookup(pq.read_table(cfg.keep_file)) if cfg.keep_file else None
        student = load_policy(cfg.student, seed=cfg.seed)
        validator = Validator(
            world, cfg.prompt, clean_fn=clean_fn, days=cfg.validation_days,
            tokenizer=student.tokenizer, max_new_tokens=cfg.max_new_tokens,
            samples=cfg.validation_samples, temperature=cfg.validation_temperature_or_default(),
            seed=cfg.seed,
        )  # fmt: skip
        if "start" not in report:
            report["start"] = {"student": validator(student)}
            if cfg.teacher and not cfg.teacher.startswith(("http://", "https://")):
                teacher, tok = load_teacher(cfg.teacher, dtype=cfg.teacher_dtype, seed=cfg.seed + 1)
                if isinstance(teacher, LocalTeacher):
                    policy = Policy(teacher.cfg, teacher.params, tok, cfg.teacher)
                    report["start"]["teacher"] = validator(policy)
            report_path.write_text(json.dumps(report, indent=2) + "\n")
    summary = run_grpo(gcfg, resume=True, progress=progress)
    link = out / "policy"
    if not link.exists():
        link.symlink_to(Path("grpo") / "policy", target_is_directory=True)
    if validator is not None:
        report["end"] = {"student": validator(load_policy(str(link)))}
        report["gap_closed"] = gap_closed(report)
    report["steps"] = cfg.steps
    report["grpo"] = {k: summary[k] for k in ("iterations", "updates", "skipped_updates")}
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report
