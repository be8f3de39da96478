"""Issue 13's tiny-world proof: on-policy distillation closes a measured part of the gap between
an undistilled student and its teacher, on validation Recall@10 and on the composite reward.

- Teacher: the quickstart's SFT policy (tiny-2m, history pretraining, instruction tuning over 15
  history cuts), which reads its prompt: its lists name the user's own entities.
- Student: the same recipe stopped early (60 + 120 steps instead of 60 + 320), which has only
  begun to copy from its prompt.
- Distillation: 60 steps of the exact reverse-KL estimator on the student's own samples.
- Validation: 100 validation users (a tiny world with 1,000 users; the default 300 leave 30,
  whose Recall@10 standard error is as large as the gaps), their held-out last week of the
  training window, 4 answers per user sampled at temperature 0.5 with fixed seeds
  (`validation_samples`; a small policy's greedy answer is often one query repeated, an invalid
  list, and hides what distillation trains).

Real everything: world, n-gram cleaning, SFT, sampler, MiniLM rewards, FAISS retrieval. The
report (start and end validation of both models, the share of each gap closed) is printed and,
with DISTILL_CURVES=FILE in the environment, written there as JSON."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from jaxinterest.train import quickstart as qs
from jaxinterest.train.distill_run import DistillConfig, run_distill
from jaxinterest.train.optim import OptimConfig
from jaxinterest.train.sft import SFTConfig, run_sft

STEPS = 60
USERS = 1000
STUDENT_STEPS = 120
# Shares of the teacher-student gap that the distilled student must close (docs/distillation.md
# has the measured values and the standard errors behind these margins).
REWARD_SHARE = 0.4
RECALL_SHARE = 0.15


@pytest.mark.slow
def test_on_policy_distillation_closes_the_gap(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill_learning")
    cfg = qs.QuickstartConfig(out=str(root), world_users=USERS)
    ctx = qs.Context(cfg, root, {}, progress=False)
    for stage in qs.STAGES:
        if stage.name in ("world", "clean", "sft"):
            ctx.results[stage.name] = stage.run(ctx)
    teacher_sft = qs.sft_config(ctx)
    student_sft = dataclasses.replace(
        teacher_sft, out=str(root / "student_sft"),
        instruct=dataclasses.replace(teacher_sft.instruct, steps=STUDENT_STEPS),
    )  # fmt: skip
    assert isinstance(student_sft, SFTConfig)
    run_sft(student_sft, progress=False)
    dcfg = DistillConfig(
        world=ctx.world, out=str(root / "distill"), keep_file=ctx.keep_file,
        teacher=ctx.results["sft"]["policy"], student=str(root / "student_sft" / "policy"),
        method="on_policy", estimator="exact", steps=STEPS, batch_size=8, samples=2,
        max_new_tokens=teacher_sft.max_new_tokens, prompt=teacher_sft.prompt,
        optim=OptimConfig(lr=1e-3, warmup_steps=5, total_steps=STEPS), eval_every=0,
        checkpoint_every=STEPS, validation_samples=4, validation_temperature=0.5,
    )  # fmt: skip
    report = run_distill(dcfg, progress=False)
    print(json.dumps(report, indent=1))
    if os.environ.get("DISTILL_CURVES"):
        with open(os.environ["DISTILL_CURVES"], "w") as f:
            json.dump(report, f, indent=1)

    start, end = report["start"], report["end"]["student"]
    teacher, student = start["teacher"], start["student"]
    # the gap exists, and by more than its noise
    se = (teacher["val_reward_se"] ** 2 + student["val_reward_se"] ** 2) ** 0.5
    assert teacher["val_reward"] - student["val_reward"] > 3 * se, report
    assert teacher["val_recall@10"] > student["val_recall@10"], report
    # the distilled student closes a measured part of it on both
    assert report["gap_closed"]["val_reward"] > REWARD_SHARE, report
    assert report["gap_closed"]["val_recall@10"] > RECALL_SHARE, report
    assert end["val_valid_share"] > student["val_valid_share"], report
