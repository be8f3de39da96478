"""A stage reuses a finished GRPO run or distillation only when that run trained exactly what the
stage would train (jaxinterest/experiments/reuse.py): the source runs here are a real `run_grpo`
run (with the text-only reward of tests/test_train_rollout.py, so it takes seconds) and a real
two-step `run_distill`."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from jaxinterest.experiments import recipe as R
from jaxinterest.experiments.reuse import find_finished
from jaxinterest.rewards.config import RewardConfig
from jaxinterest.train.distill_run import DistillConfig, run_distill
from jaxinterest.train.grpo import GRPOConfig
from jaxinterest.train.loop import run_grpo
from jaxinterest.train.optim import OptimConfig
from tests.test_train_rollout import PROMPT, TextReward, small_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return small_world(tmp_path_factory.mktemp("reuse_world") / "world")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, world):
    """(config, run dir) of a finished 2-iteration GRPO run."""
    root = tmp_path_factory.mktemp("reuse")
    cfg = GRPOConfig(
        world=str(world), policy="preset:tiny-1m", out=str(root / "source"), seed=0, steps=2,
        prompts_per_step=2, group_size=2, max_new_tokens=8, eval_every=1, checkpoint_every=1,
        prompt=PROMPT, optim=OptimConfig(lr=3e-3, warmup_steps=0, total_steps=2),
    )  # fmt: skip
    run_grpo(cfg, progress=False, reward_model=TextReward())
    return cfg, root / "source"


def test_same_training_is_found_whatever_is_logged_or_how_paths_are_spelled(finished, tmp_path):
    cfg, src = finished
    here = dataclasses.replace(
        cfg, out=str(tmp_path / "other"), eval_every=0, checkpoint_every=50, keep_last=1,
        validation_samples=4, world=os.path.relpath(cfg.world),
        rewards=dataclasses.replace(cfg.rewards, text_cache_size=7),
    )  # fmt: skip
    assert find_finished(here, [tmp_path / "missing", src]) == src


@pytest.mark.parametrize("change", [
    dict(seed=1), dict(steps=3), dict(group_size=4), dict(temperature=0.7),
    dict(optim=OptimConfig(lr=1e-3, warmup_steps=0, total_steps=2)),
    dict(rewards=RewardConfig(weights=(("align", 1.0), ("cov", 0.0), ("spec", 1.0),
                                       ("div", 1.0), ("struct", 1.0)))),
    dict(policy="preset:tiny-2m"), dict(keep_file="keep.parquet"),
])  # fmt: skip
def test_any_change_to_training_is_not_reused(finished, change):
    cfg, src = finished
    assert find_finished(dataclasses.replace(cfg, **change), [src]) is None


def test_an_unfinished_run_is_not_reused(finished, tmp_path):
    cfg, src = finished
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((src / "config.json").read_text())  # no summary.json
    assert find_finished(cfg, [half]) is None


def test_a_field_missing_from_an_older_config_counts_at_its_default(finished, tmp_path):
    cfg, src = finished
    old = tmp_path / "old"
    old.mkdir()
    saved = json.loads((src / "config.json").read_text())
    del saved["ratio"]  # as if the field had been added to GRPOConfig since
    (old / "config.json").write_text(json.dumps(saved))
    (old / "summary.json").write_text((src / "summary.json").read_text())
    assert cfg.ratio == GRPOConfig().ratio and find_finished(cfg, [old]) == old
    # at another value the missing field's default no longer matches
    assert find_finished(dataclasses.replace(cfg, ratio="sequence"), [old]) is None


def test_grpo_stage_links_the_finished_run_instead_of_training(finished, tmp_path):
    cfg, src = finished
    out = tmp_path / "table" / "grpo_full"
    policy = R.grpo_stage(dataclasses.replace(cfg, eval_every=0), cfg.world, cfg.policy, out,
                          progress=False, reuse=[src])  # fmt: skip
    assert out.is_symlink() and out.resolve() == src.resolve()
    assert policy == json.loads((src / "summary.json").read_text())["policy"]
    assert R.training_summary(out) == R.training_summary(src)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, world):
    """(config, run dir) of a finished 2-step on-policy distillation."""
    root = tmp_path_factory.mktemp("reuse_distill")
    cfg = DistillConfig(
        world=str(world), teacher="preset:tiny-1m", student="preset:tiny-1m",
        out=str(root / "source"), seed=0, steps=2, batch_size=2, samples=2, max_new_tokens=6,
        checkpoint_every=1, validate=False, prompt=PROMPT,
        optim=OptimConfig(lr=3e-3, warmup_steps=0, total_steps=2),
    )  # fmt: skip
    run_distill(cfg, progress=False)
    return cfg, root / "source"


def test_the_same_distillation_is_found_whatever_is_kept_or_how_paths_are_spelled(
    distilled, tmp_path
):
    cfg, src = distilled
    here = dataclasses.replace(cfg, out=str(tmp_path / "other"), checkpoint_every=7,
                               keep_last=1, world=os.path.relpath(cfg.world))  # fmt: skip
    assert find_finished(here, [tmp_path / "missing", src]) == src


@pytest.mark.parametrize("change", [
    dict(seed=1), dict(steps=3), dict(method="supervised"), dict(samples=3),
    dict(teacher="preset:tiny-1.5m"), dict(temperature=0.7), dict(keep_file="keep.parquet"),
    dict(optim=OptimConfig(lr=1e-3, warmup_steps=0, total_steps=2)),
    dict(validate=True),  # decides the report the tables read
])  # fmt: skip
def test_any_change_to_a_distillation_is_not_reused(distilled, change):
    cfg, src = distilled
    assert find_finished(dataclasses.replace(cfg, **change), [src]) is None


def test_a_distillation_that_has_not_finished_is_not_reused(distilled, tmp_path):
    cfg, src = distilled
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text((src / "config.json").read_text())
    (half / "report.json").write_text("{}")  # what a run writes before its first step
    assert find_finished(cfg, [half]) is None


def test_a_run_of_the_other_kind_is_never_reused(finished, distilled):
    (gcfg, gsrc), (dcfg, dsrc) = finished, distilled
    assert find_finished(dcfg, [gsrc]) is None and find_finished(gcfg, [dsrc]) is None


def test_distill_stage_links_the_finished_distillation(distilled, tmp_path):
    cfg, src = distilled
    recipe = dataclasses.replace(R.STUDENT, prompt=cfg.prompt, max_new_tokens=cfg.max_new_tokens)
    out = tmp_path / "table3" / "student" / "on_policy"
    policy = R.distill_stage(dataclasses.replace(cfg, checkpoint_every=10), cfg.world,
                             cfg.teacher, cfg.student, out, recipe, progress=False,
                             reuse=[src])  # fmt: skip
    assert out.is_symlink() and out.resolve() == src.resolve()
    assert policy == str(out / "policy") and (out / "policy" / "config.json").is_file()
    assert R.training_summary(out) == R.training_summary(src)
