"""The synthetic world: determinism, Table-1 shape, splits without leakage, learnable signal."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from jaxinterest.cli import main
from jaxinterest.data.io import load_noise_labels, load_oracle_interests, load_world
from jaxinterest.data.world import generate_world, make_config


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "tiny"
    generate_world(make_config("tiny", seed=3), out, progress=False)
    return out


def test_same_seed_same_bytes_different_seed_different(tmp_path, world_dir):
    generate_world(make_config("tiny", seed=3), tmp_path / "a", progress=False)
    assert _digest(tmp_path / "a") == _digest(world_dir)
    assert len(_digest(world_dir)) == 8  # 5 files + report.json + 2 oracle files
    generate_world(make_config("tiny", seed=4), tmp_path / "b", progress=False)
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert all(da[k] != db[k] for k in da)


def test_cli_writes_same_world(tmp_path, world_dir):
    assert (
        main(["world", "--preset", "tiny", "--seed", "3", "--out", str(tmp_path), "--quiet"]) == 0
    )
    assert _digest(tmp_path) == _digest(world_dir)
    main(
        [
            "world",
            "--preset",
            "tiny",
            "--out",
            str(tmp_path / "k"),
            "--quiet",
            "--users",
            "50",
            "--news",
            "900",
            "--noise-rate",
            "0.5",
        ]
    )
    meta = json.loads((tmp_path / "k" / "meta.json").read_text())
    assert meta["config"]["n_users"] == 50 and meta["counts"]["news"] == 900
    assert meta["config"]["noise_rate"] == 0.5


def test_table1_shape_and_truncation(world_dir):
    w = load_world(world_dir)
    ev = w.events
    users = w.users.column("user_id").to_pylist()
    dom = np.asarray(ev.column("domain").to_pylist())
    uid = np.asarray(ev.column("user_id").to_pylist())
    per = {
        d: np.array([np.sum((uid == u) & (dom == d)) for u in users])
        for d in ("search", "browse", "click")
    }
    for d, target in (("browse", 37), ("search", 13), ("click", 39)):
        assert per[d].max() <= 50
        assert abs(per[d].mean() - target) / target < 0.05, (d, per[d].mean())
    # cold = fewer than cold_max_clicks training clicks: the observable definition
    cold = np.asarray(w.users.column("cold").to_pylist())
    assert np.array_equal(cold, per["click"] < w.meta["config"]["cold_max_clicks"])
    assert 0.05 < cold.mean() < 0.4
    # cold users still have rich search/browse histories
    assert per["browse"][cold].mean() > 0.8 * per["browse"][~cold].mean()
    split = np.asarray(w.users.column("split").to_pylist())
    assert (split == "valid").sum() == round(0.1 * len(users))


def test_time_split_without_leakage(world_dir):
    w = load_world(world_dir)
    m = w.meta
    ts = w.events.column("timestamp").to_numpy()
    assert ts.min() >= m["train_start"] and ts.max() < m["train_end"]
    pub = dict(
        zip(
            w.news.column("news_id").to_pylist(),
            w.news.column("published").to_pylist(),
            strict=True,
        )
    )
    tc = w.test_clicks
    tts = tc.column("timestamp").to_numpy()
    assert tts.min() >= m["test_start"] and tts.max() < m["test_end"]
    test_pub = np.array([pub[n] for n in tc.column("news_id").to_pylist()])
    assert (test_pub >= m["test_start"]).all() and (test_pub <= tts).all()  # fresh, not future
    # training clicks are on training-window articles published before the click
    clicks = w.events.filter(pc.equal(w.events.column("domain"), "click"))
    cpub = np.array([pub[n] for n in clicks.column("news_id").to_pylist()])
    assert (cpub <= clicks.column("timestamp").to_numpy()).all() and (cpub < m["train_end"]).all()
    test_ids = set(tc.column("news_id").to_pylist())
    titles = dict(
        zip(w.news.column("news_id").to_pylist(), w.news.column("title").to_pylist(), strict=True)
    )
    assert not test_ids & set(clicks.column("news_id").to_pylist())
    assert not {titles[n] for n in test_ids} & set(w.events.column("text").to_pylist()) - {
        titles[n] for n in clicks.column("news_id").to_pylist()
    }
    # every user has at least one test click (evaluation needs one)
    assert set(tc.column("user_id").to_pylist()) == set(w.users.column("user_id").to_pylist())


def test_noise_labels_cover_events_and_include_hard_cases(world_dir):
    w = load_world(world_dir)
    lab = load_noise_labels(world_dir)
    assert lab.column("event_id").to_pylist() == w.events.column("event_id").to_pylist()
    keep = lab.column("keep").to_numpy()
    assert 0.1 < 1 - keep.mean() < 0.4
    text = np.asarray(w.events.column("text").to_pylist(), dtype=object)
    noise = set(text[keep == 0])
    assert {"weather today", "youtube", "facebook login"} & noise
    assert any(
        len(t) >= 10
        and t.replace(" ", "")
        .replace("-", "")
        .replace("(", "")
        .replace(")", "")
        .replace("+", "")
        .isdigit()
        for t in noise
    )  # phone numbers
    # hard noise: the same entity appears in kept and filtered behaviours
    ents = [e for e in load_oracle_interests(world_dir).column("entity").to_pylist() if e]
    kept_text = " ".join(text[keep == 1]).lower()
    hard = [t for t in noise if any(e.lower().replace(".", "") in t.lower() for e in ents[:200])]
    assert hard and any(h.split(" ")[0] in kept_text for h in hard)


def test_test_clicks_follow_training_interests(world_dir):
    """Learnable: a user's test articles share entities with *their* history, not others'."""
    w = load_world(world_dir)
    ents = dict(
        zip(
            w.news.column("news_id").to_pylist(), w.news.column("entities").to_pylist(), strict=True
        )
    )
    hist: dict[str, str] = {}
    for u, t in zip(
        w.events.column("user_id").to_pylist(), w.events.column("text").to_pylist(), strict=True
    ):
        hist[u] = hist.get(u, "") + " " + t.lower()
    users = sorted(hist)
    other = dict(zip(users, users[1:] + users[:1], strict=True))
    own = shifted = 0
    for u, n in zip(
        w.test_clicks.column("user_id").to_pylist(),
        w.test_clicks.column("news_id").to_pylist(),
        strict=True,
    ):
        e = [x.lower().replace(".", "") for x in ents[n]]
        own += any(x in hist[u].replace(".", "") for x in e)
        shifted += any(x in hist[other[u]].replace(".", "") for x in e)
    n = len(w.test_clicks)
    print("own", own / n, "shifted", shifted / n)
    assert own / n > 0.5 and own / n > 1.5 * shifted / n, (own / n, shifted / n)


def test_popularity_is_concentrated(world_dir):
    w = load_world(world_dir)
    counts = np.sort(
        np.bincount(np.unique(w.test_clicks.column("news_id").to_pylist(), return_inverse=True)[1])
    )[::-1]
    n_test_news = int((w.news.column("published").to_numpy() >= w.meta["test_start"]).sum())
    top = counts[: max(1, n_test_news // 20)].sum() / counts.sum()
    print("top", top)
    assert top > 0.15  # top 5% of fresh articles get well over 5% of clicks


def test_schema_of_written_files(world_dir):
    assert pq.read_schema(world_dir / "events.parquet").names == [
        "event_id",
        "user_id",
        "domain",
        "timestamp",
        "text",
        "url",
        "news_id",
    ]
    news = pq.read_schema(world_dir / "news.parquet")
    assert str(news.field("entities").type) == "list<element: string>"
    meta = json.loads((world_dir / "meta.json").read_text())
    for k in (
        "preset",
        "seed",
        "config",
        "train_start",
        "train_end",
        "test_start",
        "test_end",
        "counts",
        "schema_version",
    ):
        assert k in meta
    assert meta["test_end"] - meta["test_start"] == 7 * 86400
    assert meta["train_end"] - meta["train_start"] == 30 * 86400


def test_paper_preset_per_user_means_match_table1():
    """Table 1 means (after the 50-per-domain truncation) for the full 500k-user population.

    Event counts per user and domain are min(raw, 50) by construction (checked on real events in
    test_table1_shape_and_truncation), so the user table alone gives the paper preset's means.
    """
    from jaxinterest.data.entities import build_space
    from jaxinterest.data.world import windows
    from jaxinterest.data.world_users import make_users

    cfg = make_config("paper")
    w = windows(cfg)
    users = make_users(
        build_space(cfg.seed, cfg.entities_per_category),
        cfg,
        w["train_start"],
        w["train_end"],
        w["test_end"],
    )
    assert len(users.ids) == 500_000 == len(set(users.ids))
    kept = np.minimum(users.raw_counts, cfg.max_per_domain).mean(0)
    for got, want in zip(kept, (13, 37, 39), strict=True):  # search, browse, click
        assert abs(got - want) / want < 0.05, (got, want)
    assert (users.raw_counts > cfg.max_per_domain).any(0).all()  # truncation really happens


@pytest.mark.slow
def test_paper_preset_generates(tmp_path):
    meta = generate_world(make_config("paper"), tmp_path, progress=False)
    c = meta["counts"]
    assert c["users"] == 500_000 and c["news"] == 1_214_552
    for k, want in (("mean_browse", 37), ("mean_search", 13), ("mean_clicks", 39)):
        assert abs(c[k] - want) / want < 0.05


@pytest.mark.parametrize(
    "knob,value,words",
    [
        ("cold_fraction", 0.5, "warm users would need"),
        ("n_news", 10, "20 per day"),
        ("noise_rate", 1.5, "must be in [0, 1]"),
        ("bogus", 1, "unknown world knobs"),
    ],
)
def test_bad_knobs_are_named(knob, value, words):
    with pytest.raises(ValueError, match=knob) as info:
        make_config("tiny", **{knob: value})
    assert words in str(info.value)


def test_drift_is_visible_in_event_times(world_dir):
    """Fading interests show up early in the month, emerging ones late (recency matters)."""
    w = load_world(world_dir)
    it = load_oracle_interests(world_dir).to_pylist()
    by_user: dict[str, list[tuple[int, str]]] = {}
    for u, t, x in zip(
        w.events.column("user_id").to_pylist(),
        w.events.column("timestamp").to_pylist(),
        w.events.column("text").to_pylist(),
        strict=True,
    ):
        by_user.setdefault(u, []).append((t, x.lower().replace(".", "")))
    times = {"fading": [], "emerging": [], "stable": []}
    for r in it:
        if not r["entity"]:
            continue
        name = r["entity"].lower().replace(".", "")
        times[r["kind"]] += [t for t, x in by_user.get(r["user_id"], []) if name in x]
    mid = (w.meta["train_start"] + w.meta["train_end"]) / 2
    assert min(len(v) for v in times.values()) > 20
    assert np.mean(times["fading"]) < mid < np.mean(times["emerging"])
    assert np.mean(times["fading"]) < np.mean(times["stable"]) < np.mean(times["emerging"])


def test_cli_set_any_knob(tmp_path, capsys):
    assert (
        main(
            [
                "world",
                "--out",
                str(tmp_path),
                "--quiet",
                "--set",
                "hard_noise_rate=0.4",
                "--set",
                "domain_shape=2",
            ]
        )
        == 0
    )
    cfg = json.loads((tmp_path / "meta.json").read_text())["config"]
    assert cfg["hard_noise_rate"] == 0.4 and cfg["domain_shape"] == 2.0
    assert main(["world", "--out", str(tmp_path), "--set", "nope=1"]) == 2
    assert "expected KNOB=VALUE" in capsys.readouterr().err
