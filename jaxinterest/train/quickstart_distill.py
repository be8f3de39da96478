"""The quickstart's distillation stage: the GRPO policy (teacher) distilled on-policy into the SFT
policy (student), a few steps of `train.distill_run.run_distill`, so the table gains a
"distilled student" row beside the teacher's.

`quickstart.STAGES` runs it after "grpo" (`QuickstartConfig.distill_steps` updates). The
student has the teacher's size (the SFT preset) and starts from the SFT policy the teacher started
from: the stage shows the pipeline end to end, not the size ratio (bench/serve_ratio.py and
docs/distillation.md do that). No validation inside the stage: the "evaluate" stage scores every
policy on the test week.
"""

from __future__ import annotations

from pathlib import Path

from jaxinterest.train.distill_run import DistillConfig
from jaxinterest.train.optim import OptimConfig


def distill_config(ctx) -> DistillConfig:
    """The stage's config from the quickstart context (teacher: the GRPO stage's policy;
    student: the SFT stage's; prompt, answer length and keep file: the SFT stage's)."""
    sft, steps = ctx.cfg.sft, ctx.cfg.distill_steps
    return DistillConfig(
        world=ctx.world, out=str(Path(ctx.out) / "distill"), keep_file=ctx.keep_file,
        teacher=ctx.results["grpo"]["policy"], student=ctx.results["sft"]["policy"],
        method="on_policy", estimator="exact", steps=steps, batch_size=8, samples=2,
        max_new_tokens=sft.max_new_tokens, prompt=sft.prompt, validate=False,
        optim=OptimConfig(lr=ctx.cfg.distill_lr, warmup_steps=min(1, steps - 1), total_steps=steps),
        checkpoint_every=3,
        log_every=1, seed=sft.seed,
    )  # fmt: skip


def stage_distill(ctx) -> dict:
    from jaxinterest.train.distill_run import run_distill
    from jaxinterest.train.queries import save_prompt

    cfg = distill_config(ctx)
    report = run_distill(cfg, progress=ctx.progress)
    policy = Path(cfg.out) / "policy"
    save_prompt(policy, cfg.prompt)  # the evaluate stage prompts each policy as it was trained
    return {"policy": str(policy), "label": "distilled student", "steps": report["steps"],
            "method": cfg.method, "estimator": cfg.estimator}  # fmt: skip
