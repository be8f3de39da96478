"""`jaxinterest quickstart` with a cut budget (--set): every stage's files, the evaluation's
schema and table, stage-by-stage resume, the stage hook and a config mismatch refused.

Slow: even cut, it is the whole pipeline (world, n-gram cleaning, SFT, GRPO with the real
rewards, distillation, test-week evaluation of five rows): about 180 CPU seconds."""

from __future__ import annotations

import json

import pytest

from jaxinterest.cli import main
from jaxinterest.train import quickstart as qs

CUT = [
    "world_seed=4", "sft.pretrain.steps=2", "sft.pretrain.batch_size=4",
    "sft.instruct.steps=2", "sft.instruct.batch_size=4",
    "sft.cut_days=[0]", "grpo.steps=2", "grpo.prompts_per_step=2", "grpo.group_size=2",
    "grpo.max_new_tokens=8", "grpo.eval_every=0", "grpo.checkpoint_every=1", "distill_steps=2",
]  # fmt: skip
ROWS = ["popularity", "own searches", "SFT policy", "GRPO policy", "distilled student"]
METRICS = {"recall@10", "ndcg@10", "mrr"}
pytestmark = pytest.mark.slow


def args(out):
    return ["quickstart", "--out", str(out), "--quiet"] + [x for s in CUT for x in ("--set", s)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart") / "run"
    assert main(args(out)) == 0
    return out


def test_files_schema_and_table(run, capsys):
    stages = json.loads((run / "stages.json").read_text())
    assert list(stages) == [s.name for s in qs.STAGES]
    for s in stages.values():
        assert s["seconds"] >= 0 and s["cpu_seconds"] >= 0 and len(s["load_average"]) == 3
    for path in ("world/meta.json", "clean/keep.parquet", "clean_model", "sft/policy/config.json",
                 "sft/report.json", "grpo/metrics.jsonl", "grpo/summary.json",
                 "grpo/policy/model.safetensors", "evaluation.json", "table.md",
                 "config.json"):  # fmt: skip
        assert (run / path).exists(), path
    ev = json.loads((run / "evaluation.json").read_text())
    assert list(ev["rows"]) == ROWS
    for name, row in ev["rows"].items():
        for cohort in ("all", "cold"):
            assert set(row[cohort]) == METRICS, name
            assert all(0 <= v <= 1 for v in row[cohort].values()), name
    assert ev["rows"]["own searches"]["all"]["recall@10"] > 0
    for name in ROWS:  # policies also score their sampled answers; reference rows do not
        sampled = ev["rows"][name].get("sampled")
        assert (sampled is None) == (name in ("popularity", "own searches")), name
        if sampled:
            assert set(sampled["all"]) == METRICS and all(
                0 <= v <= 1 for v in sampled["all"].values()
            )
            assert sampled["answers"]["samples"] == qs.QuickstartConfig().answer_samples
            assert 0 <= sampled["answers"]["valid_share"] <= 1
    assert ev["test_clicks"] > 0
    table = (run / "table.md").read_text().splitlines()
    assert len(table) == 2 + len(ROWS) and all(f"| {r} |" in "\n".join(table) for r in ROWS)
    grpo = json.loads((run / "grpo" / "config.json").read_text())
    sft = json.loads((run / "sft" / "config.json").read_text())
    assert grpo["prompt"] == sft["prompt"] and grpo["keep_file"] == sft["keep_file"]
    assert grpo["policy"] == str(run / "sft" / "policy") and grpo["steps"] == 2


def test_rerun_skips_stages_and_new_stages_join_the_table(run, capsys, monkeypatch):
    """A rerun skips every finished stage; after an interruption (a stage missing from
    stages.json) only that stage and the ones after it run. A stage added with `add_stage`
    whose result names a policy gets its row in the table."""
    before = (run / "evaluation.json").read_text()
    assert main(args(run)) == 0
    printed = capsys.readouterr().out
    assert printed.count("done earlier") == len(qs.STAGES)
    assert (run / "evaluation.json").read_text() == before
    calls = []

    def extra(ctx):
        calls.append(sorted(ctx.results))
        return {"policy": ctx.results["sft"]["policy"], "label": "extra policy"}

    monkeypatch.setattr(qs, "STAGES", list(qs.STAGES))
    qs.add_stage(qs.Stage("extra", extra))
    assert [s.name for s in qs.STAGES][-2:] == ["extra", "evaluate"]
    stages = json.loads((run / "stages.json").read_text())
    del stages["evaluate"]  # as if killed during the evaluation
    (run / "stages.json").write_text(json.dumps(stages))
    assert main(args(run)) == 0
    assert calls == [["clean", "distill", "grpo", "sft", "world"]]
    ev = json.loads((run / "evaluation.json").read_text())
    assert list(ev["rows"]) == [*ROWS, "extra policy"]
    assert ev["rows"]["extra policy"]["all"] == ev["rows"]["SFT policy"]["all"]


def test_a_different_config_is_refused(run, capsys):
    assert main([*args(run), "--set", "grpo.steps=3"]) == 2
    assert "different config" in capsys.readouterr().err
