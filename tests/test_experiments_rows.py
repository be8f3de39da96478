"""A policy's table row (`recipe.evaluate_policy_row`): the greedy metrics and, with
`Recipe.answer_samples`, the sampled ones, cached per row; and the markdown table that shows
the sampled column only when some row has it."""

from __future__ import annotations

import json

import pytest

from jaxinterest.experiments import tables


def test_table_gains_sampled_columns_only_when_a_row_has_them():
    greedy = {"all": {"recall@10": 0.2, "stderr_recall@10": 0.01, "ndcg@10": 0.1},
              "cold": {"recall@10": 0.3, "ndcg@10": 0.15}}  # fmt: skip
    sampled = {"all": {"recall@10": 0.25, "stderr_recall@10": 0.02, "ndcg@10": 0.125}}
    md = tables.metric_table({"a": greedy, "b": greedy}, ("recall@10", "ndcg@10"))
    assert "sampled" not in md
    md = tables.metric_table({"a": greedy, "b": greedy | {"sampled": sampled}, "pop": greedy},
                             ("recall@10", "ndcg@10"), paper={"a": (0.5, 0.4)})  # fmt: skip
    header, _, a, b, pop = md.strip().split("\n")
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["method", "all R@10", "all N@10", "cold R@10", "cold N@10",
                    "all R@10 sampled", "all N@10 sampled", "paper R@10", "paper N@10"]  # fmt: skip
    cells = {name: [c.strip() for c in line.strip("|").split("|")]
             for name, line in (("a", a), ("b", b), ("pop", pop))}  # fmt: skip
    assert cells["b"][5:7] == ["0.250 ± 0.020", "0.125"]
    assert cells["a"][5:7] == ["–", "–"] and cells["a"][7:] == ["0.500", "0.400"]
    assert cells["b"][1] == "0.200 ± 0.010" and cells["pop"][7:] == ["–", "–"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jaxinterest.data.io import load_world
    from tests.test_train_rollout import small_world

    return load_world(small_world(tmp_path_factory.mktemp("rows") / "world"))


def test_policy_row_caches_and_adds_the_sampled_part(world, tmp_path):
    from jaxinterest.experiments.recipe import Recipe, evaluate_policy_row

    out = tmp_path / "row.json"
    recipe = Recipe(model="tiny-1m", max_new_tokens=8, answer_samples=0)
    row = evaluate_policy_row(world, "preset:tiny-1m", recipe, out, tmp_path, progress=False)
    assert "sampled" not in row and json.loads(out.read_text()) == row
    assert {"all", "cold", "valid_share"} <= set(row)

    # a marker in the cached greedy part: asking for sampled answers keeps it, adds them
    cached = row | {"valid_share": -1.0}
    out.write_text(json.dumps(cached))
    two = Recipe(model="tiny-1m", max_new_tokens=8, answer_samples=2)
    row = evaluate_policy_row(world, "preset:tiny-1m", two, out, tmp_path, progress=False)
    assert row["valid_share"] == -1.0
    s = row["sampled"]
    assert s["samples"] == 2 and s["temperature"] == 1.0 and 0 <= s["valid_share"] <= 1
    assert {"recall@10", "stderr_recall@10", "ndcg@10", "mrr"} <= set(s["all"])
    assert json.loads(out.read_text()) == row

    # cached with the same count: returned as stored; another count: recomputed
    out.write_text(json.dumps(row | {"marker": 1}))
    assert evaluate_policy_row(world, "preset:tiny-1m", two, out, tmp_path)["marker"] == 1
    three = Recipe(model="tiny-1m", max_new_tokens=8, answer_samples=3)
    row = evaluate_policy_row(world, "preset:tiny-1m", three, out, tmp_path, progress=False)
    assert row["sampled"]["samples"] == 3
