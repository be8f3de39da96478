"""The experiment infrastructure's pure parts: metric comparison, sweep cells, the manifest."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import ClassVar

import pytest

from jaxinterest.experiments import manifest as M
from jaxinterest.experiments import reproduce as R
from jaxinterest.experiments import sweep as S


def test_flatten_names_every_leaf():
    tree = {"rows": {"a": {"all": {"r": 0.5}}, "b": [1, {"x": "y"}]}, "n": 3}
    assert R.flatten(tree) == {"rows.a.all.r": 0.5, "rows.b.0": 1, "rows.b.1.x": "y", "n": 3}


def test_bitwise_comparison_reports_the_smallest_change():
    a = {"m": {"r": 0.1 + 0.2, "n": 7, "s": "ok"}}
    nudged = math.nextafter(0.1 + 0.2, 1.0)  # one ulp away
    rep = R.compare_metrics(a, {"m": {"r": nudged, "n": 7, "s": "ok"}})
    assert rep["compared"] == 3
    assert [d["key"] for d in rep["differences"]] == ["m.r"]
    assert rep["differences"][0]["abs_diff"] == pytest.approx(nudged - (0.1 + 0.2), abs=0)
    assert R.compare_metrics(a, json.loads(json.dumps(a)))["differences"] == []


def test_tolerance_is_relative_with_a_floor_of_one():
    assert R.same(100.0, 100.9, 0.01) and not R.same(100.0, 102.0, 0.01)
    assert R.same(0.0, 0.009, 0.01) and not R.same(0.0, 0.02, 0.01)
    assert R.same(float("nan"), float("nan"), 0.0) and not R.same(float("nan"), 1.0, 0.5)
    assert not R.same(True, 1, 0.0)  # a flag is not a count
    assert not R.same("a", "b", 1.0)


def test_missing_and_new_metrics_are_reported():
    rep = R.compare_metrics({"a": 1, "b": 2}, {"a": 1, "c": 3})
    assert rep["only_original"] == ["b"] and rep["only_rerun"] == ["c"]


def test_sweep_cells_are_the_product_with_seeds_fastest():
    cells = S.cells({"model": ["tiny-1m", "tiny-5m"]}, seeds=[0, 1], seed_key="recipe.seed")
    assert [S.cell_name(c) for c in cells] == [
        "model=tiny-1m,recipe.seed=0",
        "model=tiny-1m,recipe.seed=1",
        "model=tiny-5m,recipe.seed=0",
        "model=tiny-5m,recipe.seed=1",
    ]
    assert S.cell_name({"model": "/a/b"}) == "model=_a_b"
    cmd = S.cell_command("x.py", Path("out"), cells[1], extra=["--set", "k=v"])
    sets = ["--set", "model=tiny-1m", "--set", "recipe.seed=1", "--set", "k=v", "--quiet"]
    assert cmd[1:] == ["x.py", "--out", "out/model=tiny-1m,recipe.seed=1", *sets]


@pytest.mark.parametrize(
    "items, message",
    [(["model"], "KEY=V1"), (["model="], "KEY=V1"), (["a=1", "a=2"], "swept twice")],
)
def test_parse_sweep_rejects_bad_items(items, message):
    with pytest.raises(ValueError, match=message):
        S.parse_sweep(items)


def test_seed_swept_twice_is_refused():
    with pytest.raises(ValueError, match="both swept"):
        S.cells({"seed": ["0"]}, seeds=[1])


def test_manifest_records_environment_stages_and_outcome(tmp_path):
    config = {"seed": 3, "world": {"seed": 1, "preset": "tiny"}, "grpo": {"steps": 2}}
    man = M.Manifest(tmp_path, script="experiments/x.py", argv=["x.py"], config=config)
    assert M.run_status(tmp_path) == "running"
    with man.stage("world"):
        pass
    man.end("finished")
    data = M.read_manifest(tmp_path)
    assert data["seeds"] == {"seed": 3, "world.seed": 1}
    assert data["status"] == "finished" and set(data["stages"]) == {"world"}
    env = data["environment"]
    assert len(env["git"]["commit"]) == 40 and isinstance(env["git"]["dirty"], bool)
    assert (env["git"]["diff_sha256"] is None) == (not env["git"]["dirty"])
    assert env["packages"]["jax"] and env["packages"]["numpy"]
    assert env["devices"]["count"] >= 1 and env["devices"]["kind"]
    # a second attempt keeps the first one's record
    M.Manifest(tmp_path, script="experiments/x.py", argv=["x.py"], config=config)
    attempts = M.read_manifest(tmp_path)["attempts"]
    assert [a["outcome"] for a in attempts] == ["finished", "running"]
    assert M.run_status(tmp_path / "nothing") == "new"


CELL_SCRIPT = """
import dataclasses, sys
from jaxinterest.experiments import script

@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    scale: int = 1

def body(cfg, out, manifest, progress):
    with manifest.stage("compute"):
        value = (cfg.seed + 1) * cfg.scale
    (out / "cell.md").write_text(f"value {value}\\n")
    return {"value": value}, ["cell.md"]

if __name__ == "__main__":
    sys.exit(script.main(__file__, Config, body, "a sweep cell"))
"""


def test_parallel_sweep_runs_every_cell_once(tmp_path):
    """Two cells at a time over a 2 x 2 grid of a minimal script through the real harness:
    every cell finishes with its own config, and a rerun skips all of them."""
    cell = tmp_path / "cell.py"
    cell.write_text(CELL_SCRIPT)
    out = tmp_path / "sweep"
    status = S.run_sweep(cell, out, {"scale": ["1", "3"]}, seeds=[0, 1], parallel=2, log=str)
    assert status == {S.cell_name(c): "finished" for c in S.cells({"scale": ["1", "3"]}, [0, 1])}
    for c, run_dir in S.finished_cells(out, {"scale": ["1", "3"]}, [0, 1]):
        res = json.loads((run_dir / "results.json").read_text())
        assert res["metrics"]["value"] == (int(c["seed"]) + 1) * int(c["scale"])
        assert M.read_manifest(run_dir)["config"] == {
            "seed": int(c["seed"]),
            "scale": int(c["scale"]),
        }
    S.run_sweep(cell, out, {"scale": ["1", "3"]}, seeds=[0, 1], parallel=2, log=str)
    log = [json.loads(x) for x in (out / "sweep_log.jsonl").read_text().splitlines()]
    assert sorted(e["action"] for e in log) == ["ran"] * 4 + ["skipped"] * 4


def test_untrained_recipe_is_its_model_and_runs_nothing(tmp_path):
    from jaxinterest.experiments import recipe as R

    class NoStages:  # any stage opened would fail the test
        def stage(self, name):
            raise AssertionError(f"stage {name} ran")

    done = R.Recipe(model=str(tmp_path / "teacher_policy"), train=False)
    assert R.train_policy(done, tmp_path, tmp_path / "t", NoStages(), progress=False) == {
        "sft": done.model,
        "grpo": done.model,
    }
    preset = R.Recipe(model="tiny-2m", train=False)  # a preset is not trained either
    assert R.sft_stage(preset, tmp_path, tmp_path / "s", progress=False) == "tiny-2m"
    assert not (tmp_path / "t").exists() and not (tmp_path / "s").exists()


def test_user_subset_scores_only_the_picked_users(tmp_path):
    from jaxinterest.data.columns import column
    from jaxinterest.data.io import load_world
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.experiments import recipe as R

    generate_world(make_config("tiny", seed=3, n_news=800, n_users=40), tmp_path / "w",
                   progress=False)  # fmt: skip
    world = load_world(tmp_path / "w")
    sub = R.user_subset(world, 12, seed=5)
    picked = column(sub.users, "user_id")
    assert picked == R.pick_users(world, 12, seed=5) and len(set(picked)) == 12
    assert set(picked) <= set(column(world.users, "user_id"))
    assert sub.events is world.events and sub.news is world.news  # only who is scored changes
    assert R.user_subset(world, 0, seed=5) is world and R.user_subset(world, 40, 5) is world
    assert R.pick_users(world, 12, seed=6) != picked


def test_grpo_runs_on_one_world_share_one_rewards_cache(tmp_path):
    from jaxinterest.experiments import recipe as R

    world = tmp_path / "worlds" / "small-seed0"
    world.mkdir(parents=True)
    a, b = tmp_path / "a" / "grpo", tmp_path / "b" / "grpo"
    R.share_rewards_cache(world, a)
    R.share_rewards_cache(world, b)
    (a / "rewards_cache" / "key.json").write_text("{}")
    assert (b / "rewards_cache" / "key.json").read_text() == "{}"
    own = tmp_path / "c" / "grpo" / "rewards_cache"
    own.mkdir(parents=True)
    R.share_rewards_cache(world, own.parent)  # a run's own cache is left alone
    assert not own.is_symlink()


@dataclasses.dataclass(frozen=True)
class RowsConfig:
    SELECTORS: ClassVar[tuple[str, ...]] = ("rows",)

    seed: int = 0
    rows: tuple[str, ...] = ("a", "b")


def rows_body(cfg, out, manifest, progress):
    return {"rows": {r: cfg.seed for r in cfg.rows}}, []


def test_rerun_may_change_which_rows_but_nothing_else(tmp_path):
    """Fields a config names in SELECTORS (Table 2's rows) may differ from the run a directory
    holds; any other field is refused, naming it."""
    from jaxinterest.config import to_dict
    from jaxinterest.experiments import script

    assert "SELECTORS" not in to_dict(RowsConfig())  # not a config field
    file = str(tmp_path / "rows.py")
    script.run(file, RowsConfig(), rows_body, out=tmp_path / "run", progress=False)
    res = script.run(file, RowsConfig(rows=("c",)), rows_body, out=tmp_path / "run",
                     progress=False)  # fmt: skip
    assert res["metrics"] == {"rows": {"c": 0}}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["rows"] == ["c"]
    with pytest.raises(ValueError, match=r"\(seed differ\)"):
        script.run(file, RowsConfig(seed=1, rows=("a",)), rows_body, out=tmp_path / "run",
                   progress=False)  # fmt: skip
    # without SELECTORS the same change of rows is another config
    with pytest.raises(ValueError, match=r"\(rows differ\)"):
        script.check_same_config(tmp_path / "run", {"seed": 0, "rows": ["a"]})


def test_finished_cell_is_skipped_only_under_the_same_command(tmp_path):
    """A finished cell is rerun when the command changes without changing the cell (here an
    edited --config file): the script refuses the directory of another config, so the cell
    reads failed instead of silently keeping the old result; the original command skips it."""
    cell = tmp_path / "cell.py"
    cell.write_text(CELL_SCRIPT)
    out, base = tmp_path / "sweep", tmp_path / "base.json"

    def sweep(scale: int) -> dict:
        base.write_text(json.dumps({"scale": scale}))
        return S.run_sweep(cell, out, {"seed": ["0"]}, extra=["--config", str(base)], log=str)

    assert sweep(2) == {"seed=0": "finished"}
    assert sweep(5) == {"seed=0": "failed"}
    assert "another config (scale differ)" in (out / "seed=0.log").read_text()
    res = json.loads((out / "seed=0" / "results.json").read_text())
    assert res["metrics"]["value"] == 2  # the first result is kept, not overwritten
    assert sweep(2) == {"seed=0": "finished"}
    log = [json.loads(x) for x in (out / "sweep_log.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["ran", "ran", "skipped"]
    assert log[0]["returncode"] == 0 and log[1]["returncode"] != 0
