"""`data.world_holdout.write_holdout_world`: the same users' time split written as a world
directory: events before the cut, fresh clicks after it as the test week, oracle/ cut alike, and
nothing of the real test week. Checked against the source world read here with pyarrow."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.test_train_rollout import small_world

DAY, DAYS = 86_400, 7


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from jaxinterest.data.world_holdout import write_holdout_world

    root = tmp_path_factory.mktemp("holdout")
    src = small_world(root / "source", seed=5)
    meta = write_holdout_world(src, root / "cut", DAYS)
    return src, root / "cut", meta


def test_window_users_and_clicks(split):
    from jaxinterest.data.io import load_world

    src, dst, meta = split
    old = json.loads((src / "meta.json").read_text())
    cut = old["train_end"] - DAYS * DAY
    assert json.loads((dst / "meta.json").read_text()) == meta
    assert (meta["train_start"], meta["train_end"]) == (old["train_start"], cut)
    assert (meta["test_start"], meta["test_end"]) == (cut, old["train_end"])

    world = load_world(dst, strict=True)  # schema, windows, freshness and cold flags hold
    events = pq.read_table(src / "events.parquet").to_pandas()
    before = events[events.timestamp < cut]
    assert sorted(world.events.column("event_id").to_pylist()) == sorted(before.event_id)
    assert set(world.users.column("user_id").to_pylist()) == set(before.user_id)

    # test week: each click at or after the cut on an article published in [cut, train_end)
    news = pq.read_table(src / "news.parquet").to_pandas().set_index("news_id")["published"]
    after = events[(events.timestamp >= cut) & (events.domain == "click")]
    fresh = after[after.news_id.map(news).between(cut, old["train_end"] - 1)]
    got = world.test_clicks.to_pandas()
    assert len(got) == len(fresh) > 0
    pairs = sorted(zip(got.user_id, got.news_id, strict=True))
    assert pairs == sorted(zip(fresh.user_id, fresh.news_id, strict=True))
    real = pq.read_table(src / "test_clicks.parquet").column("timestamp").to_numpy()
    assert got.timestamp.max() < real.min()  # nothing of the real test week

    # cold: fewer than cold_max_clicks clicks before the cut
    limit = old["config"]["cold_max_clicks"]
    clicks = before[before.domain == "click"].groupby("user_id").size()
    users = world.users.to_pandas()
    want = users.user_id.map(clicks).fillna(0).to_numpy() < limit
    assert np.array_equal(users.cold.to_numpy(), want)
    assert want.sum() > (pq.read_table(src / "users.parquet").column("cold").to_numpy()).sum()


def test_oracle_is_cut_alike(split):
    src, dst, _ = split
    labels = pq.read_table(dst / "oracle" / "noise_labels.parquet")
    events = pq.read_table(dst / "events.parquet")
    assert labels.column("event_id").to_pylist() == sorted(events.column("event_id").to_pylist())
    source = pq.read_table(src / "oracle" / "noise_labels.parquet").to_pandas()
    source = source.set_index("event_id").loc[labels.column("event_id").to_pylist()]
    assert np.array_equal(source.keep.to_numpy(), labels.column("keep").to_numpy())
    assert pq.read_table(dst / "oracle" / "interests.parquet").equals(
        pq.read_table(src / "oracle" / "interests.parquet")
    )
