"""Table 3's baselines behind `distill --method`: "grpo" (no distillation) trains the student with
Dr.GRPO on exactly the budget of the distillation run it is compared with, and writes the same
report; "supervised" and "on_policy" run the distillation loop (tests/test_distill_world.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jaxinterest.data.world import generate_world, make_config
from jaxinterest.train.distill_grpo import grpo_config
from jaxinterest.train.distill_run import DistillConfig
from jaxinterest.train.optim import OptimConfig


def test_grpo_config_has_the_distillation_budget():
    optim = OptimConfig(lr=2e-4, warmup_steps=1, total_steps=7)
    cfg = DistillConfig(
        world="w", teacher="t", student="s", out="runs/x", method="grpo", steps=7, batch_size=3,
        samples=4, max_new_tokens=20, temperature=0.8, seed=9, micro_batches=2, optim=optim,
        checkpoint_every=3, keep_file="k.parquet",
    )  # fmt: skip
    g = grpo_config(cfg)
    assert (g.steps, g.prompts_per_step, g.group_size, g.inner_epochs) == (7, 3, 4, 1)
    assert g.steps * g.prompts_per_step * g.group_size == 7 * 3 * 4  # the same lists sampled
    assert g.steps * g.inner_epochs == cfg.steps  # the same number of updates
    assert (g.max_new_tokens, g.temperature, g.seed, g.micro_batches) == (20, 0.8, 9, 2)
    assert g.optim == optim and g.prompt == cfg.prompt and g.keep_file == "k.parquet"
    assert g.policy == "s" and g.world == "w" and g.out.endswith("x/grpo")
    assert g.rewards.n_queries == cfg.prompt.n_queries


def test_grpo_needs_a_group():
    cfg = DistillConfig(world="w", student="s", method="grpo", samples=1)
    with pytest.raises(ValueError, match="samples >= 2"):
        grpo_config(cfg)


def test_remote_teacher_refused_where_params_are_needed():
    with pytest.raises(ValueError, match="remote teacher"):
        DistillConfig(teacher="http://127.0.0.1:1/v1", method="supervised")
    with pytest.raises(ValueError, match="remote teacher"):
        DistillConfig(teacher="http://127.0.0.1:1/v1", estimator="exact")
    DistillConfig(teacher="http://127.0.0.1:1/v1", estimator="sampled")
    DistillConfig(teacher="http://127.0.0.1:1/v1", method="grpo")


@pytest.mark.slow  # two GRPO iterations and three greedy validations: ~2 min on 2 loaded cores
def test_grpo_method_through_the_cli(tmp_path):
    world = tmp_path / "world"
    generate_world(make_config("tiny", seed=4, n_news=800, n_users=60), world, progress=False)
    out = tmp_path / "run"
    sets = ["batch_size=2", "samples=2", "max_new_tokens=8", "checkpoint_every=1", "seed=1"]
    cmd = [sys.executable, "-m", "jaxinterest.cli", "distill", "--world", str(world),
           "--teacher", "preset:tiny-1m", "--student", "preset:tiny-1m", "--out", str(out),
           "--method", "grpo", "--steps", "2", "--no-progress",
           *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    report = json.loads((out / "report.json").read_text())
    assert set(report["start"]) == {"student", "teacher"} and "student" in report["end"]
    assert report["grpo"] == {"iterations": 2, "updates": 2, "skipped_updates": 0}
    assert set(report["gap_closed"]) == {"val_recall@10", "val_ndcg@10", "val_mrr", "val_reward"}
    assert (out / "policy" / "config.json").is_file()  # the symlink into grpo/policy
    lines = (out / "grpo" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "reward_mean" in json.loads(lines[0])
    g = json.loads((out / "grpo" / "config.json").read_text())
    assert (g["prompts_per_step"], g["group_size"], g["inner_epochs"]) == (2, 2, 1)
    # a rerun resumes (nothing left to do) instead of refusing the directory
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
