"""`jaxinterest interests` on a tiny world: one record per user, resumable with the same result
whatever the batching, the retrieval half equal to the evaluation protocol's, clear errors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from jaxinterest.cli import main
from jaxinterest.data.columns import column
from jaxinterest.data.io import load_world
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.eval.recommend import (
    EvalConfig,
    build_test_index,
    evaluate_queries,
    load_queries,
)
from jaxinterest.sampling import Generation
from jaxinterest.serve import load_served_model
from jaxinterest.serve.interests import InterestsConfig, user_interests
from tests.serve_helpers import export_tiny


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("world")
    generate_world(make_config("tiny"), path, progress=False)
    return path


@pytest.fixture(scope="module")
def world(world_dir):
    return load_world(world_dir, parts=("news", "events", "users", "test_clicks"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("policy") / "tiny")


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_interests_writes_every_user_and_resumes_identically(world, world_dir, ckpt, tmp_path):
    users = column(world.users, "user_id")[:9]
    (tmp_path / "users.txt").write_text("\n".join(users) + "\n\n")
    common = [
        "interests",
        "--checkpoint",
        str(ckpt),
        "--world",
        str(world_dir),
        "--users",
        str(tmp_path / "users.txt"),
        "--temperature",
        "0.9",
        "--seed",
        "3",
        "--max-new-tokens",
        "24",
        "--no-progress",
    ]
    full = tmp_path / "full.jsonl"
    assert main([*common, "--out", str(full), "--batch-size", "4"]) == 0
    records = _lines(full)
    assert [r["user_id"] for r in records] == users
    assert all(
        set(r) == {"user_id", "queries", "valid", "reason", "articles", "text"} for r in records
    )
    assert len({r["text"] for r in records}) > 1  # sampled per user, not one shared stream
    # an interrupted run: three records and a torn fourth line
    part = tmp_path / "part.jsonl"
    head = full.read_text().splitlines(keepends=True)
    part.write_text("".join(head[:3]) + head[3][:20])
    assert main([*common, "--out", str(part), "--batch-size", "5"]) == 0
    resumed = _lines(part)
    assert sorted(r["user_id"] for r in resumed) == sorted(users)
    assert {r["user_id"]: r for r in resumed} == {r["user_id"]: r for r in records}
    assert main([*common, "--out", str(part)]) == 0  # nothing left to do
    assert len(_lines(part)) == len(users)
    assert set(load_queries(part)) == set(users)  # a valid `evaluate --queries` file


def test_articles_follow_the_evaluation_protocol(world, monkeypatch):
    """With the policy's answer fixed, the articles are what `evaluate_queries` retrieves for
    those queries (test-week index, per-query top-k, merge, seen clicks removed)."""
    import jaxinterest.sampling

    model = load_served_model(preset="tiny-1m")
    answer = '["football transfer news", "election results", "new phone review"]'
    ids = model.tokenizer.encode(answer) + [model.stop_ids[0]]

    def fixed_answer(params, cfg, prompts, sampling, *, keys=None, pad_id=0, **_):
        r = len(prompts)
        return Generation(
            tokens=np.tile(np.asarray(ids, np.int32), (r, 1)),
            logprobs=np.zeros((r, len(ids)), np.float32),
            logprobs_raw=np.zeros((r, len(ids)), np.float32),
            lengths=np.full(r, len(ids), np.int32),
            finished=np.ones(r, bool),
            prompt_index=np.arange(r, dtype=np.int32),
        )

    monkeypatch.setattr(jaxinterest.sampling, "generate", fixed_answer)
    users = column(world.users, "user_id")[:12]
    index = build_test_index(world)
    cfg = InterestsConfig(batch_size=5, k=7, per_query_k=9)
    got = [
        r
        for batch in user_interests(model, world, users, index, cfg, progress=False)
        for r in batch
    ]
    queries = json.loads(answer)
    assert all(r["queries"] == queries and r["valid"] for r in got)
    _, ranked = evaluate_queries(
        world,
        {u: queries for u in users},
        dataclasses.replace(EvalConfig(), k=7, per_query_k=9),
        index=index,
        unknown_users="skip",
    )
    for r in got:
        assert r["articles"] == ranked[r["user_id"]]
        assert len(r["articles"]) == 7


def test_unknown_user_is_a_clear_error(world_dir, ckpt, tmp_path, capsys):
    (tmp_path / "users.txt").write_text("nobody-here\n")
    code = main(
        [
            "interests",
            "--checkpoint",
            str(ckpt),
            "--world",
            str(world_dir),
            "--users",
            str(tmp_path / "users.txt"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2
    assert "line 1: user 'nobody-here' is not in the world" in capsys.readouterr().err
