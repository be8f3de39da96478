"""Behaviour packing on a hand-built world, and training that lowers the validation loss."""

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from jaxinterest.baselines import data as D
from jaxinterest.baselines.config import TrainConfig
from jaxinterest.baselines.registry import NAMES, make_config, module
from jaxinterest.baselines.train import fit, sample_targets

START = 1_000_000


def hand_world():
    news = pa.table({"news_id": ["N0", "N1", "N2"], "title": ["Mars rover", "Fed rates", "Jazz"],
                     "published": [START - 10, START + 5, START + 2_000_000]})  # fmt: skip
    users = pa.table({"user_id": ["a", "b"], "split": ["train", "valid"], "cold": [False, True]})
    events = pa.table({
        "user_id": ["a", "a", "a", "a", "a", "b"],
        "domain": ["search", "click", "browse", "click", "search", "search"],
        "timestamp": [START + 1, START + 3, START + 3, START + 9, START + 9, START + 4],
        "text": ["mars", "clicked title text", "NASA page", "t", "rates", "jazz clubs"],
        "news_id": [None, "N0", None, "N1", None, None],
    })  # fmt: skip
    meta = {"train_start": START, "train_end": START + 100, "test_start": START + 1_000_000,
            "test_end": START + 3_000_000}  # fmt: skip
    return SimpleNamespace(news=news, users=users, events=events, meta=meta)


def test_user_events_domains_keep_mask_and_titles():
    w = hand_world()
    ev = D.user_events(w, ["click", "search"])
    assert ev.user.tolist() == [0, 0, 0, 0, 1]
    # a click reads its article's title from news.parquet, not the event text
    assert ev.text == ["mars", "Mars rover", "Fed rates", "rates", "jazz clubs"]
    assert ev.item.tolist() == [-1, 0, 1, -1, -1]
    keep = np.array([1, 1, 1, 0, 1, 1], bool)  # drop the second click
    assert D.user_events(w, ["click"], keep).item.tolist() == [0]
    with pytest.raises(ValueError, match="domains"):
        D.user_events(w, ["clicks"])
    w.events = w.events.set_column(4, "news_id", pa.array([None, "N9", None, "N1", None, None]))
    with pytest.raises(KeyError, match="N9"):
        D.user_events(w, ["click"])


def test_to_streams_keeps_the_most_recent_in_time_order():
    w = hand_world()
    ev = D.user_events(w, D.DOMAINS)
    rows = np.arange(1, len(ev.text) + 1, dtype=np.int32)
    s = D.to_streams(ev, rows, 2, START, max_len=3)
    assert s.length.tolist() == [4, 2]
    # user a: 5 events, the 3 newest kept (time 3 browse, 9 click, 9 search: file order on ties)
    assert s.dom[0].tolist() == [D.BOS, 1, 2, 0]
    assert s.text[0].tolist() == [0, 3, 4, 5]
    assert s.time[0].tolist() == [3, 3, 9, 9]  # BOS carries the first kept event's time
    assert s.item[0].tolist() == [-1, -1, 1, -1]
    assert s.dom[1].tolist() == [D.BOS, 0, D.BOS, D.BOS]  # padding is BOS
    assert D.clicked_items(w).tolist() == [0, 1]
    assert D.test_items(w).tolist() == [2]


def test_sample_targets_only_clicks_after_bos():
    rng = np.random.default_rng(0)
    item = np.array([[-1, 5, -1, 7, 8, -1], [-1, -1, -1, -1, -1, -1]], np.int32)
    s = D.Streams(np.zeros_like(item), np.zeros_like(item), np.zeros_like(item), item,
                  np.array([6, 1], np.int32))  # fmt: skip
    t = sample_targets(s, 4, np.array([1, 2, 3]), 10, rng)
    assert sorted(t.pos[0][t.mask[0]].tolist()) == [1, 3, 4]
    assert sorted(t.item[0][t.mask[0]].tolist()) == [5, 7, 8]
    assert not t.mask[1].any()
    assert set(t.neg.tolist()) <= {1, 2, 3}


def synthetic(seed=0, n_users=120, n_items=240, n_topics=8, e=16):
    """Users click articles of one topic; article vectors only weakly show the topic."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(n_topics, e))
    topic = rng.integers(n_topics, size=n_items)
    vec = 0.6 * centre[topic] / np.sqrt(e) + rng.normal(size=(n_items, e)) / np.sqrt(e)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    table = np.concatenate([np.zeros((1, e)), vec]).astype(np.float32)
    t = 21
    text = np.zeros((n_users, t), np.int32)
    item = np.full((n_users, t), -1, np.int32)
    length = rng.integers(8, t + 1, size=n_users).astype(np.int32)
    for u in range(n_users):
        pool = np.flatnonzero(topic == rng.integers(n_topics))
        clicks = rng.choice(pool, size=length[u] - 1)
        item[u, 1 : length[u]] = clicks
        text[u, 1 : length[u]] = clicks + 1
    dom = np.where(item >= 0, D.CLICK, D.BOS).astype(np.int32)
    time = np.cumsum(rng.integers(1, 3600, size=(n_users, t)), axis=1).astype(np.int32)
    streams = D.Streams(text, dom, time, item, length)
    valid = np.arange(n_users) % 5 == 0
    return streams, valid, np.arange(n_items), table, np.arange(1, n_items + 1, dtype=np.int32)


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_validation_loss(name):
    streams, valid, catalogue, table, item_text = synthetic()
    cfg = make_config(name, d_model=16, item_rank=8, max_len=20)
    tcfg = TrainConfig(batch_users=24, targets_per_user=6, n_random_negatives=48,
                       temperature=0.1, lr=1e-2, warmup_steps=5, max_steps=60, eval_every=20,
                       patience=3, valid_batch_users=24)  # fmt: skip
    params, log = fit(module(name), cfg, tcfg, streams, valid, catalogue, table, item_text)
    start = log["history"][0]["valid_loss"]
    assert log["steps"] == 60 and log["n_valid_users"] == 24
    # The topic is learnable from the history; a model that does not learn stays near start.
    assert log["best_valid_loss"] < 0.85 * start, log["history"]
    assert set(params) >= {"item"}
