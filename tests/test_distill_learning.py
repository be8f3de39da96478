"""Issue 13's tiny-world proof: on-policy distillation closes a measured part of the gap between
an undistilled student and its teacher, on Recall@10 of the users' next week and on the
composite reward.

- Teacher: the learning proof's GRPO policy (`tests/tiny_learning.py`: tiny-2m SFT, then 300
  Dr.GRPO iterations), which beats its warm start on both.
- Student: the SFT warm start before GRPO: the undistilled student.
- Distillation: STEPS steps of the exact reverse-KL estimator on the student's own samples
  (8 users x 2 samples per step).
- Scoring: as in the learning proof (four answers per user sampled at temperature 1, the test
  week, gains paired per user); `gap_closed` = (distilled - undistilled) / (teacher -
  undistilled).

The report is printed and, with DISTILL_CURVES=FILE in the environment, written there as
JSON."""

from __future__ import annotations

import json
import os

import pytest

from tests import tiny_learning as tl

STEPS = 100
LR = 3e-4
# Shares of the teacher-student gap that the distilled student must close; the gains must also
# exceed two of their standard errors (docs/distillation.md has the measured values).
REWARD_SHARE = 0.4
RECALL_SHARE = 0.3


@pytest.mark.slow
def test_on_policy_distillation_closes_the_gap(tiny_learning):
    from jaxinterest.train.distill_run import DistillConfig, run_distill
    from jaxinterest.train.metrics import read_metrics
    from jaxinterest.train.optim import OptimConfig

    setup = tiny_learning
    teacher, student = setup.root / "grpo" / "policy", setup.sft_policy
    dcfg = DistillConfig(
        world=setup.world_dir, out=str(setup.root / "distill"), keep_file=setup.keep_file,
        teacher=str(teacher), student=student, method="on_policy", estimator="exact",
        steps=STEPS, batch_size=8, samples=2, max_new_tokens=setup.max_new_tokens,
        prompt=setup.prompt, optim=OptimConfig(lr=LR, warmup_steps=5, total_steps=STEPS),
        checkpoint_every=STEPS, validate=False,
    )  # fmt: skip
    run_distill(dcfg, progress=False)
    kl = [r["loss"] for r in read_metrics(setup.root / "distill" / "metrics.jsonl")]
    before, after = setup.score(student), setup.score(setup.root / "distill" / "policy")
    top = setup.score(teacher)
    report = {"kl_first_last": [kl[0], kl[-1]]}
    for m in ("recall@10", "reward"):
        gap, gain = tl.paired_gain(before[m], top[m]), tl.paired_gain(before[m], after[m])
        report[m] = {"teacher_gap": gap, "distilled_gain": gain,
                     "gap_closed": gain["gain"] / gap["gain"]}  # fmt: skip
    print(json.dumps(report, indent=1))
    if os.environ.get("DISTILL_CURVES"):
        with open(os.environ["DISTILL_CURVES"], "w") as f:
            json.dump(report, f, indent=1)

    for m, share in (("recall@10", RECALL_SHARE), ("reward", REWARD_SHARE)):
        gap, gain = report[m]["teacher_gap"], report[m]["distilled_gain"]
        assert gap["gain"] > 2 * gap["se"], report  # the teacher is better, beyond noise
        assert gain["gain"] > 2 * gain["se"], report  # so is the distilled student
        assert report[m]["gap_closed"] > share, report
    assert kl[-1] < kl[0], report
