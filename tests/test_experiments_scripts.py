"""Smoke tests of the experiment scripts: each runs as a user runs it (its own process, the real
libraries) on a tiny world with tiny budgets, and the test checks the files it writes and their
schema: results.json metrics, the markdown table, the PNG of a figure, and the manifest. All run
with cleaning on (the default): every manifest records the clean stage.

Every script compiles a sampler and most train (SFT warm start, GRPO, distillation): each takes
one to thirteen minutes on 2 loaded cores, so all are marked slow (`pytest -m slow`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxinterest.data.world import generate_world, make_config
from jaxinterest.experiments.manifest import read_manifest
from jaxinterest.experiments.recipe import clean_dir

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
COHORT_KEYS = {"recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr", "stderr_recall@10",
               "stderr_ndcg@10"}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("scripts") / "world"
    generate_world(make_config("tiny", seed=6, n_news=800, n_users=60), path, progress=False)
    return path


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """A random tiny-1m policy saved as an HF checkpoint: the 'local checkpoint' path of the
    scripts, which skips the SFT warm start."""
    from jaxinterest.train.policy import load_policy, save_policy

    out = tmp_path_factory.mktemp("policy") / "tiny-1m"
    save_policy(load_policy("preset:tiny-1m", seed=0), out)
    return out


@pytest.fixture(scope="module")
def other_policy(tmp_path_factory):
    """Another random tiny-1m (seed 1): a student that differs from the teacher even when the
    teacher's one GRPO update is zero (a random policy's lists all score 0, so every advantage
    is 0), so the distillation's KL is positive rather than 0 up to rounding."""
    from jaxinterest.train.policy import load_policy, save_policy

    out = tmp_path_factory.mktemp("policy") / "tiny-1m-seed1"
    save_policy(load_policy("preset:tiny-1m", seed=1), out)
    return out


def sets(**kv) -> list[str]:
    return [a for k, v in kv.items() for a in ("--set", f"{k.replace('__', '.')}={v}")]


def grpo_budget(prefix: str) -> list[str]:
    """One GRPO iteration of 2 users x 2 samples, one update, no validation."""
    p = prefix + "grpo."
    return [a for item in (f"{p}steps=1", f"{p}prompts_per_step=2", f"{p}group_size=2",
                           f"{p}inner_epochs=1", f"{p}eval_every=0", f"{p}checkpoint_every=1",
                           f"{p}optim.total_steps=1") for a in ("--set", item)]  # fmt: skip


def sft_budget(prefix: str) -> list[str]:
    """Two pretraining and two instruction updates of 4 rows."""
    items = []
    for stage in ("pretrain", "instruct"):
        p = f"{prefix}sft.{stage}."
        items += [f"{p}steps=2", f"{p}warmup_steps=1", f"{p}batch_size=4"]
    return [a for item in items for a in ("--set", item)]


def run_script(name: str, out: Path, args: list[str], timeout: float = 1800) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, str(ROOT / "experiments" / name), "--out", str(out), *args, "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    man = read_manifest(out)
    assert man["status"] == "finished" and man["script"] == f"experiments/{name}"
    assert man["environment"]["git"]["commit"] and man["stages"]
    assert "clean" in man["stages"] and man["config"]["world"]["clean"] is True
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == Path(name).stem
    for f in results["files"]:
        assert (out / f).is_file(), f
    return results


def check_rows(rows: dict, names, sampled=()) -> None:
    """Every row has the cohort metrics; the rows named in `sampled` also have the metrics of
    their sampled answers (`recipe.evaluate_policy_row`), the others none."""
    assert set(rows) == set(names)
    for name in names:
        parts = [rows[name], rows[name]["sampled"]] if name in sampled else [rows[name]]
        for part in parts:
            for cohort in ("all", "cold"):
                row = part[cohort]
                assert COHORT_KEYS <= set(row), (name, cohort)
                assert all(0.0 <= row[k] <= 1.0 for k in COHORT_KEYS), (name, row)
        assert ("sampled" in rows[name]) == (name in sampled), name


@pytest.mark.slow  # about a minute on 2 loaded cores (two models compile the sampler)
def test_table6_throughput(world, tmp_path):
    out = tmp_path / "t6"
    res = run_script("table6_throughput.py", out, sets(
        world__path=world, teacher="preset:tiny-2m", student="preset:tiny-1m", users=8,
        batch_size=4, max_new_tokens=8, repeat=1))  # fmt: skip
    m = res["metrics"]
    for name in ("teacher", "student"):
        assert m["rows"][name]["users_per_s"] > 0 and m["rows"][name]["tokens_per_user"] > 0
    assert m["rows"]["teacher"]["params"] > m["rows"]["student"]["params"]
    assert m["student_over_teacher"] == pytest.approx(
        m["rows"]["student"]["users_per_s"] / m["rows"]["teacher"]["users_per_s"]
    )
    assert "| teacher `preset:tiny-2m` |" in (out / "table6.md").read_text()


@pytest.mark.slow
def test_fig3_best_of_n(world, policy, tmp_path):
    out = tmp_path / "f3"
    res = run_script("fig3_best_of_n.py", out, sets(
        world__path=world, policy=policy, max_users=12, best_of_n__samples=4,
        best_of_n__ns="1,2,4", best_of_n__batch_size=4, recipe__max_new_tokens=16))  # fmt: skip
    rep = res["metrics"]["best_of_n"]
    assert rep["ns"] == [1, 2, 4] and rep["samples"] == 4 and rep["users"] == 12
    for key in ("reward", "recall@10", "ndcg@10", "mrr"):
        assert set(rep["all"][key]) == {"1", "2", "4"}
    reward = [rep["all"]["reward"][n]["mean"] for n in ("1", "2", "4")]
    assert reward[0] <= reward[1] <= reward[2]  # the kept list's reward cannot fall with N
    assert (out / "fig3.png").read_bytes()[:8] == PNG
    assert len((out / "samples.jsonl").read_text().splitlines()) == 12


@pytest.mark.slow
def test_table5_rewards(world, tmp_path):
    out = tmp_path / "t5"
    res = run_script("table5_rewards.py", out, [
        *sets(world__path=world, recipe__model="tiny-1m", variants="full,no_cov",
              recipe__answer_samples=2),
        *sft_budget("recipe."), *grpo_budget("recipe."),
    ])  # fmt: skip
    rows = res["metrics"]["rows"]
    check_rows(rows, ["full", "no_cov"], sampled=["full", "no_cov"])
    assert (
        rows["full"]["sampled"]["samples"] == 2 and 0 <= rows["full"]["sampled"]["valid_share"] <= 1
    )
    assert "all R@10 sampled" in (out / "table5.md").read_text()
    assert (out / "sft" / "policy" / "config.json").is_file()
    weights = json.loads((out / "grpo_no_cov" / "config.json").read_text())["rewards"]["weights"]
    assert dict(map(tuple, weights))["cov"] == 0.0
    training = res["metrics"]["training"]
    assert set(training) == {"sft", "full", "no_cov"} and training["sft"]["loss"] > 0
    assert training["full"]["entropy"] > 0 and "reward_mean" in training["no_cov"]
    assert "w/o R_cov" in (out / "table5.md").read_text()


@pytest.mark.slow
def test_table2_main(world, policy, tmp_path):
    out = tmp_path / "t2"
    # the SmolLM2 rows' path (format SFT, then GRPO) with the random checkpoint in its place
    res = run_script("table2_main.py", out, [
        *sets(world__path=world, rows="popularity,own_searches,baselines,teacher,student,"
              "smollm2,oracle",
              baselines="gru", baseline_train__max_steps=2, baseline_train__eval_every=1,
              teacher__model=policy, student__model=policy, distill__steps=1,
              distill__batch_size=2, distill__optim__total_steps=1,
              distill__optim__warmup_steps=0, teacher__answer_samples=1,
              student__answer_samples=0, smollm2__model=policy, smollm2_users=12,
              smollm2__answer_samples=0, smollm2__sft__validation_users=4),
        *grpo_budget("teacher."), *sft_budget("smollm2."), *grpo_budget("smollm2."),
        *sets(smollm2__sft__pretrain__steps=0),
    ])  # fmt: skip
    rows = res["metrics"]["rows"]
    check_rows(rows, ["popularity", "own_searches", "gru", "teacher", "student", "oracle",
                      "smollm2_zero_shot", "smollm2_sft", "smollm2_grpo"],
               sampled=["teacher"])  # fmt: skip
    assert rows["oracle"]["diagnostic"] is True
    md = (out / "table2.md").read_text()
    assert "DIAGNOSTIC" in md and "| GRU |" in md and "cleaned behaviours" in md
    assert "SmolLM2-135M-Instruct + SFT + GRPO (12 users)" in md
    # the format SFT started from the checkpoint (no pretraining), GRPO from the SFT policy
    sm = out / "smollm2"
    assert json.loads((sm / "sft" / "config.json").read_text())["policy"] == str(policy)
    assert not (sm / "sft" / "pretrained").exists()
    assert json.loads((sm / "sft" / "report.json").read_text())["users_scored"] == 4
    assert json.loads((sm / "grpo" / "config.json").read_text())["policy"] == str(
        sm / "sft" / "policy"
    )
    # every stage read the keep mask cached beside the world
    keep = str(clean_dir(world) / "keep.parquet")
    assert json.loads((out / "baselines" / "baselines.json").read_text())["cleaned_by"] == keep
    for stage in ("teacher/grpo", "student/distill"):
        assert json.loads((out / stage / "config.json").read_text())["keep_file"] == keep, stage


@pytest.mark.slow
def test_table3_distill(world, policy, other_policy, tmp_path):
    out = tmp_path / "t3"
    res = run_script("table3_distill.py", out, [
        *sets(world__path=world, teacher__model=policy, student__model=other_policy,
              distill__steps=1, distill__batch_size=2, distill__optim__total_steps=1,
              distill__optim__warmup_steps=0, teacher__answer_samples=1,
              student__answer_samples=1),
        *grpo_budget("teacher."), *grpo_budget("student."),
    ])  # fmt: skip
    names = ["teacher", "start", "supervised", "on_policy", "none"]
    check_rows(res["metrics"]["rows"], names, sampled=names)
    training = res["metrics"]["training"]
    assert set(training) == {"teacher", "supervised", "on_policy", "none"}
    assert training["on_policy"]["loss"] > 0 and training["teacher"]["entropy"] > 0
    assert "On-policy distillation" in (out / "table3.md").read_text()


@pytest.mark.slow
def test_fig2_model_size(world, tmp_path):
    out = tmp_path / "f2"
    res = run_script("fig2_model_size.py", out, [
        *sets(world__path=world, models="tiny-1m", seeds="0,1", recipe__answer_samples=1),
        *sft_budget("recipe."), *grpo_budget("recipe."),
    ])  # fmt: skip
    point = res["metrics"]["points"]["tiny-1m"]
    sampled = [point["seeds"][s]["sampled_recall@10"] for s in ("0", "1")]
    assert point["sampled_recall@10"] == pytest.approx(sum(sampled) / 2)
    assert "R@10 sampled" in (out / "fig2.md").read_text()
    assert point["params"] > 0 and set(point["seeds"]) == {"0", "1"}
    r10 = [point["seeds"][s]["recall@10"] for s in ("0", "1")]
    assert point["recall@10"] == pytest.approx(sum(r10) / 2)
    assert point["stderr_recall@10"] is not None
    assert (out / "fig2.png").read_bytes()[:8] == PNG
    assert (out / "cells" / "teacher.model=tiny-1m,seed=1" / "results.json").is_file()
