"""The experiments' clean stage: the n-gram noise classifier trained and applied once per world,
its keep mask handed to every stage that reads behaviours, and nothing of it when
`world.clean` is off."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jaxinterest.data.world import generate_world, make_config
from jaxinterest.experiments import recipe as R

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "world"
    generate_world(make_config("tiny", seed=6, n_news=800, n_users=40), path, progress=False)
    return path


class Stages:
    """A manifest that only records the stage names."""

    def __init__(self):
        self.names = []

    def stage(self, name):
        import contextlib

        self.names.append(name)
        return contextlib.nullcontext()


def test_clean_stage_runs_once_per_world(world, tmp_path, monkeypatch):
    from jaxinterest.commands import clean

    spec = R.WorldSpec(path=str(world))
    keep_file = R.ensure_clean(spec, world, tmp_path / "run1", progress=False)
    assert Path(keep_file) == R.clean_dir(world) / "keep.parquet"
    keep = pq.read_table(keep_file)
    events = pq.read_table(world / "events.parquet")
    assert sorted(keep.column("event_id").to_pylist()) == sorted(
        events.column("event_id").to_pylist()
    )
    share = float(np.mean(keep.column("keep").to_numpy()))
    assert 0.0 < share < 1.0, share  # the classifier drops some events, not all
    assert not list(world.parent.glob(".*.tmp"))  # the temporary directory was renamed
    report = json.loads((R.clean_dir(world) / "report.json").read_text())
    assert report["keep_file"] == keep_file  # names the final place, not the temporary one

    def no_work(*a, **k):
        raise AssertionError("the cached keep mask was recomputed")

    monkeypatch.setattr(clean, "train", no_work)
    monkeypatch.setattr(clean, "apply", no_work)
    # a second call, and another run on the same world, find the cache
    assert R.ensure_clean(spec, world, tmp_path / "run1", progress=False) == keep_file
    assert R.ensure_clean(spec, world, tmp_path / "run2", progress=False) == keep_file
    assert not (tmp_path / "run1").exists() and not (tmp_path / "run2").exists()


def test_keep_mask_of_another_world_is_refused(world, tmp_path):
    spec = R.WorldSpec(path=str(world))
    R.ensure_clean(spec, world, tmp_path, progress=False)
    saved = R.clean_dir(world) / "world_meta.json"
    original = saved.read_bytes()
    try:
        saved.write_text('{"seed": 99}')
        with pytest.raises(ValueError, match="another world"):
            R.ensure_clean(spec, world, tmp_path, progress=False)
    finally:
        saved.write_bytes(original)


def test_clean_off_writes_nothing_and_sets_no_keep_file(tmp_path):
    world = tmp_path / "w" / "world"  # never read: nothing is cleaned
    spec = R.WorldSpec(path=str(world), clean=False)
    assert R.ensure_clean(spec, world, tmp_path / "run", progress=False) is None
    assert R.keep_lookup(None) is None
    assert not (tmp_path / "w").exists() and not (tmp_path / "run").exists()


def fake_stages(monkeypatch) -> dict:
    """run_sft, run_grpo and run_distill replaced by recorders of the config each gets."""
    from jaxinterest.train import distill_run, loop, sft

    seen = {}

    def run_sft(cfg, progress=True):
        seen["sft"] = cfg

    def run_grpo(cfg, resume=False, progress=True):
        seen["grpo"] = cfg
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps({"policy": str(out / "policy")}))

    def run_distill(cfg, progress=True):
        seen["distill"] = cfg

    monkeypatch.setattr(sft, "run_sft", run_sft)
    monkeypatch.setattr(loop, "run_grpo", run_grpo)
    monkeypatch.setattr(distill_run, "run_distill", run_distill)
    return seen


@pytest.mark.parametrize("keep_file", ["/k/keep.parquet", None])
def test_stages_share_one_keep_file(tmp_path, monkeypatch, keep_file):
    """A cleaned run hands the same keep file to SFT, GRPO and distillation; an uncleaned one
    leaves every config's keep_file as it was (None)."""
    seen = fake_stages(monkeypatch)
    recipe = R.Recipe(model="tiny-1m").resolve()
    man = Stages()
    policy = R.train_policy(recipe, tmp_path, tmp_path / "teacher", man, progress=False,
                            keep_file=keep_file)  # fmt: skip
    R.distill_stage(R.DISTILL, tmp_path, policy["grpo"], policy["sft"], tmp_path / "distill",
                    recipe, progress=False, keep_file=keep_file)  # fmt: skip
    assert set(seen) == {"sft", "grpo", "distill"}
    assert [seen[k].keep_file for k in ("sft", "grpo", "distill")] == [keep_file] * 3
    assert man.names == ["teacher.sft", "teacher.grpo"]


def load_script(name: str, monkeypatch):
    """An experiment script imported as a module (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


class Generated:
    def __init__(self, n: int):
        self.lengths = np.zeros(n, np.int32)

    def texts(self, tokenizer):
        return [""] * len(self.lengths)


def evaluation_prompts(world, out, clean: bool, monkeypatch) -> list[str]:
    """Table 2's teacher row of an untrained random policy through the script's body, with the
    sampler replaced by one that records the prompts it is given (decoded, in user order)."""
    from jaxinterest.config import load_config
    from jaxinterest.experiments import script
    from jaxinterest.train import queries
    from jaxinterest.train.policy import load_policy

    prompts = []

    def generate(params, cfg, batch, sampling, **kw):
        prompts.extend(batch)
        return Generated(len(batch))

    monkeypatch.setattr(queries, "generate", generate)
    t2 = load_script("table2_main", monkeypatch)
    sets = [f"world.path={world}", f"world.clean={str(clean).lower()}", "rows=teacher",
            "teacher.model=preset:tiny-1m", "teacher.train=false"]  # fmt: skip
    cfg = t2.resolve(load_config(t2.Table2Config, None, sets))
    script.run(t2.__file__, cfg, t2.body, out=out, progress=False)
    tok = load_policy("preset:tiny-1m").tokenizer
    return [tok.decode(p) for p in prompts]


def test_evaluation_prompts_hold_no_dropped_behaviour(world, tmp_path, monkeypatch):
    from jaxinterest.data.columns import column

    raw = evaluation_prompts(world, tmp_path / "raw", False, monkeypatch)
    cleaned = evaluation_prompts(world, tmp_path / "clean", True, monkeypatch)
    users = list(column(pq.read_table(world / "users.parquet"), "user_id"))
    # the greedy pass, then one per sampled answer set (`Recipe.answer_samples`): same prompts
    passes = 1 + R.Recipe().answer_samples
    assert len(raw) == len(cleaned) == len(users) * passes
    n = len(users)
    for prompts in (raw, cleaned):
        assert all(prompts[i * n : (i + 1) * n] == prompts[:n] for i in range(passes))
    raw, cleaned = raw[:n], cleaned[:n]
    assert "clean" in json.loads((tmp_path / "clean" / "manifest.json").read_text())["stages"]

    events = pq.read_table(world / "events.parquet")
    keep = R.keep_lookup(str(R.clean_dir(world) / "keep.parquet"))(events)
    by_user = {}
    for u, text, k in zip(column(events, "user_id"), column(events, "text"), keep, strict=True):
        by_user.setdefault(u, ([], []))[0 if k else 1].append(text)
    found = 0
    for u, before, after in zip(users, raw, cleaned, strict=True):
        kept, dropped = by_user.get(u, ([], []))
        only_dropped = set(dropped) - set(kept)  # texts no kept event of the user has
        in_raw = [t for t in only_dropped if shown(t, before)]
        found += len(in_raw)
        assert not [t for t in in_raw if shown(t, after)], u
    assert found > 0  # the raw prompts do hold dropped behaviours: the check can fail


def shown(text: str, prompt: str) -> bool:
    """Whether the prompt lists the behaviour: a line "- TEXT" or "- TEXT (host)"."""
    line = "- " + " ".join(text.split())
    return any(x == line or x.startswith(line + " (") for x in prompt.splitlines())


def test_reference_rows_read_the_kept_searches_or_the_raw_ones(world, tmp_path, monkeypatch):
    """Table 2's own and shuffled searches: with world.clean=false exactly the raw rows, with
    cleaning the rows of the kept searches only (and popularity unchanged)."""
    from jaxinterest.config import load_config
    from jaxinterest.data.io import load_world
    from jaxinterest.eval import reference
    from jaxinterest.eval.reference import own_searches, shuffled_searches
    from jaxinterest.experiments import script

    events_read = {}  # (clean, recommender) -> events in the world it was given

    def recording(world, name, *a, **k):
        events_read[(clean, name)] = world.events.num_rows
        return real(world, name, *a, **k)

    real = reference.reference_queries
    monkeypatch.setattr(reference, "reference_queries", recording)
    t2 = load_script("table2_main", monkeypatch)
    rows = "rows=popularity,own_searches,shuffled_searches"
    got = {}
    for clean in (False, True):
        cfg = load_config(t2.Table2Config, None, [f"world.path={world}", rows,
                                                  f"world.clean={str(clean).lower()}"])  # fmt: skip
        res = script.run(t2.__file__, t2.resolve(cfg), t2.body, out=tmp_path / str(clean),
                         progress=False)  # fmt: skip
        got[clean] = res["metrics"]["rows"]
    w = load_world(world)
    keep = R.keep_lookup(str(R.clean_dir(world) / "keep.parquet"))(w.events)
    kept = dataclasses.replace(w, events=w.events.filter(pa.array(keep)))
    n = R.TINY_PROMPT.n_queries
    expect = {
        False: {"own_searches": own_searches(w, n), "shuffled_searches": shuffled_searches(w, n)},
        True: {"own_searches": own_searches(w, n, keep), "shuffled_searches":
               shuffled_searches(kept, n)},
    }  # fmt: skip
    for clean, queries in expect.items():
        for row, q in queries.items():
            assert got[clean][row] == R.evaluate_queries_row(w, q), (clean, row)
    assert got[True]["own_searches"] != got[False]["own_searches"]
    # popularity counts every click (no user's behaviours): the raw world either way
    assert got[True]["popularity"] == got[False]["popularity"]
    n_all, n_kept = w.events.num_rows, int(keep.sum())
    assert events_read == {
        (False, "popularity"): n_all, (False, "own-searches"): n_all,
        (False, "shuffled-searches"): n_all, (True, "popularity"): n_all,
        (True, "own-searches"): n_kept, (True, "shuffled-searches"): n_kept,
    }  # fmt: skip
