"""The synthetic cross-domain world: config, presets and `generate_world(cfg, out)`.

A world is a structure space (categories, sub-topics, entities; `entities.py`), news published
day by day (`world_news.py`), users with latent interests (`world_users.py`) and their search,
browse and click events plus test-week clicks (`world_events.py`), written as the Parquet files
of docs/data.md. Users are generated in chunks so memory stays flat at the `paper` scale; each
chunk has its own seeded generator, so the same config and seed give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from jaxinterest.data.entities import build_space
from jaxinterest.data.noise import NoisePools
from jaxinterest.data.schema import (
    EVENTS_SCHEMA,
    LABELS_SCHEMA,
    SCHEMA_VERSION,
    TEST_CLICKS_SCHEMA,
    USERS_SCHEMA,
)
from jaxinterest.data.surfaces import Pools
from jaxinterest.data.world_context import Context
from jaxinterest.data.world_events import EVENT_KINDS, make_chunk
from jaxinterest.data.world_news import make_news
from jaxinterest.data.world_report import WorldReport, write_report
from jaxinterest.data.world_test_week import make_test_clicks
from jaxinterest.data.world_users import DAY, interests_table, make_users

TRAIN_START = int(dt.datetime(2024, 11, 1, tzinfo=dt.UTC).timestamp())  # the paper: November
PARQUET = {"compression": "zstd", "write_statistics": True}


@dataclass(frozen=True)
class WorldConfig:
    """All knobs of the world. Means are per user AFTER the <= max_per_domain truncation."""

    preset: str = "tiny"
    seed: int = 0
    n_users: int = 300
    n_news: int = 3000
    entities_per_category: int = 10
    mean_browse: float = 37.0  # paper Table 1
    mean_search: float = 13.0
    mean_clicks: float = 39.0
    max_per_domain: int = 50
    raw_cap: int = 400  # raw events per domain before truncation are capped (bounds memory)
    count_sigma: float = 0.6  # log-normal spread of user activity
    noise_rate: float = 0.3  # share of raw search/browse events that are noise
    search_noise_scale: float = 1.5  # search noise rate = noise_rate * this (partly transactional)
    click_noise_scale: float = 0.25  # click noise rate = noise_rate * this (utility articles)
    hard_noise_rate: float = 0.25  # share of noise that names one of the user's entities
    popular_click_rate: float = 0.1  # training clicks on popular articles outside interests
    cold_fraction: float = 0.15  # users generated with few clicks and more search/browse
    cold_click_mean: float = 1.0
    cold_max_clicks: int = 5  # observable cold definition: fewer training clicks than this
    drift: float = 0.3  # share of interests that fade during training or emerge late
    min_interests: int = 2
    domain_shape: float = 0.7  # gamma shape of per-domain interest visibility (lower = more skew)
    topic_only_rate: float = 0.08  # interests with no entity
    explore: float = 0.2  # events on a neighbouring entity / sub-topic of the same category
    test_explore: float = 0.05  # wandering of test-week clicks
    interest_pop_power: float = 0.3  # interest entities ~ entity popularity ** power (1 = news)
    search_blind_rate: float = 0.6  # interests never searched (only browsed / clicked)
    typo_rate: float = 0.08
    test_clicks_mean: float = 6.0
    test_popular_rate: float = 0.1
    test_daily_rate: float = 0.05
    valid_fraction: float = 0.1
    train_days: int = 30
    test_days: int = 7
    chunk_users: int = 20000


PRESETS = {
    "tiny": dict(n_users=300, n_news=3000, entities_per_category=10),
    "small": dict(n_users=4000, n_news=30000, entities_per_category=40),
    "paper": dict(n_users=500_000, n_news=1_214_552, entities_per_category=250),
}


def make_config(preset: str = "tiny", **overrides) -> WorldConfig:
    """A preset's config with any knob overridden (None values are ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    kw = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(kw) - {f.name for f in dataclasses.fields(WorldConfig)}
    if unknown:
        raise ValueError(f"unknown world knobs {sorted(unknown)}")
    return check_config(WorldConfig(preset=preset, **kw))


def check_config(cfg: WorldConfig) -> WorldConfig:
    """Reject knob values the generator cannot honour, naming the knob."""
    days = cfg.train_days + cfg.test_days
    rules = (
        ("n_users", cfg.n_users >= 1, "must be >= 1"),
        ("n_news", cfg.n_news >= 20 * days, f"must be >= {20 * days} (20 per day)"),
        ("entities_per_category", cfg.entities_per_category >= 2, "must be >= 2"),
        ("chunk_users", cfg.chunk_users >= 1, "must be >= 1"),
        ("test_clicks_mean", cfg.test_clicks_mean >= 1, "must be >= 1"),
        ("domain_shape", cfg.domain_shape > 0, "must be > 0"),
        ("interest_pop_power", cfg.interest_pop_power >= 0, "must be >= 0"),
        ("min_interests", 1 <= cfg.min_interests <= 6, "must be in [1, 6]"),
    )
    rates = (
        "noise_rate",
        "hard_noise_rate",
        "popular_click_rate",
        "cold_fraction",
        "drift",
        "topic_only_rate",
        "explore",
        "test_explore",
        "search_blind_rate",
        "typo_rate",
        "test_popular_rate",
        "test_daily_rate",
        "valid_fraction",
    )
    rules += tuple((r, 0 <= getattr(cfg, r) <= 1, "must be in [0, 1]") for r in rates)
    rules += (
        (
            "popular_click_rate",
            cfg.noise_rate * cfg.click_noise_scale + cfg.popular_click_rate <= 1,
            "click noise + popular clicks exceed 1",
        ),
        (
            "search_noise_scale",
            0 <= cfg.noise_rate * cfg.search_noise_scale <= 1,
            "noise_rate * search_noise_scale must be in [0, 1]",
        ),
        (
            "test_popular_rate",
            cfg.test_popular_rate + cfg.test_daily_rate <= 1,
            "test_popular_rate + test_daily_rate exceed 1",
        ),
    )
    # warm users must carry the click mean alone, under the 50-per-domain cap
    warm_mean = (cfg.mean_clicks - cfg.cold_fraction * cfg.cold_click_mean) / max(
        1e-9, 1 - cfg.cold_fraction
    )
    rules += (
        (
            "cold_fraction",
            warm_mean < 0.97 * cfg.max_per_domain,
            f"too high for mean_clicks={cfg.mean_clicks}: warm users would need "
            f"{warm_mean:.1f} clicks on average under the cap {cfg.max_per_domain}",
        ),
    )
    for mean in ("mean_browse", "mean_search"):
        rules += (
            (
                mean,
                0 < getattr(cfg, mean) < 0.97 * cfg.max_per_domain,
                f"must be in (0, {0.97 * cfg.max_per_domain})",
            ),
        )
    for name, ok, why in rules:
        if not ok:
            raise ValueError(f"world knob {name}={getattr(cfg, name)!r}: {why}")
    return cfg


def windows(cfg: WorldConfig) -> dict[str, int]:
    train_end = TRAIN_START + cfg.train_days * DAY
    return {
        "train_start": TRAIN_START,
        "train_end": train_end,
        "test_start": train_end,
        "test_end": train_end + cfg.test_days * DAY,
    }


def phrasing_labels(kind: np.ndarray, family: np.ndarray) -> pa.Array:
    """ "<kind>/<family>" per noise event (the phrasing family of noise_vocab.py that wrote it,
    which the template-disjoint cleaning split holds out whole); null for kept events."""
    if len(family) and family.max() >= 8:
        raise ValueError(f"phrasing family {int(family.max())} >= 8: widen phrasing_labels")
    names = [f"{k}/{f}" for k in EVENT_KINDS for f in range(8)]
    ok = (family >= 0) & (kind >= 2)
    idx = np.where(ok, kind.astype(np.int64) * 8 + np.maximum(family, 0), 0)
    return pa.array(names, pa.string()).take(pa.array(idx, mask=~ok))


def generate_world(cfg: WorldConfig, out: str | Path, progress: bool = True) -> dict:
    """Write a world directory; returns meta.json's contents."""
    out = Path(out)
    check_config(cfg)
    (out / "oracle").mkdir(parents=True, exist_ok=True)
    w = windows(cfg)
    space = build_space(cfg.seed, cfg.entities_per_category)
    pools = Pools(space, cfg.seed)
    news = make_news(
        space, pools, cfg.n_news, w["train_start"], cfg.train_days + cfg.test_days, cfg.seed
    )
    pq.write_table(news.table, out / "news.parquet", **PARQUET)
    users = make_users(space, cfg, w["train_start"], w["train_end"], w["test_end"])
    pq.write_table(interests_table(users, space), out / "oracle" / "interests.parquet", **PARQUET)
    ctx = Context(cfg, space, pools, NoisePools(pools, cfg.seed), news, users, **w)
    writers = {
        "events": pq.ParquetWriter(out / "events.parquet", EVENTS_SCHEMA, **PARQUET),
        "labels": pq.ParquetWriter(
            out / "oracle" / "noise_labels.parquet", LABELS_SCHEMA, **PARQUET
        ),
        "test": pq.ParquetWriter(out / "test_clicks.parquet", TEST_CLICKS_SCHEMA, **PARQUET),
    }
    n_events, n_test, keep_sum = 0, 0, 0
    counts = np.zeros((cfg.n_users, 3), np.int64)
    kind_hist = np.zeros(len(EVENT_KINDS), np.int64)
    report = WorldReport(cfg.n_users)
    starts = range(0, cfg.n_users, cfg.chunk_users)
    for ci, lo in enumerate(tqdm(starts, desc="world: users", unit="chunk", disable=not progress)):
        hi = min(lo + cfg.chunk_users, cfg.n_users)
        rng = np.random.default_rng([cfg.seed, 606, ci])
        part = make_chunk(ctx, lo, hi, rng)
        # same generator, drawn after events
        part["test"], provenance = make_test_clicks(ctx, lo, hi, rng)
        report.add_chunk(lo, part, provenance)
        ev = part["events"]
        ids = pa.array(np.arange(n_events, n_events + len(ev), dtype=np.int64))
        writers["events"].write_table(
            pa.Table.from_arrays([ids, *ev.columns], schema=EVENTS_SCHEMA)
        )
        lab = part["labels"]
        writers["labels"].write_table(
            pa.table(
                {
                    "event_id": ids,
                    "keep": pa.array(lab["keep"], pa.int8()),
                    "kind": pa.array(EVENT_KINDS, pa.string()).take(pa.array(lab["kind"])),
                    "phrasing": phrasing_labels(lab["kind"], lab["phrasing"]),
                },
                schema=LABELS_SCHEMA,
            )
        )
        writers["test"].write_table(part["test"].cast(TEST_CLICKS_SCHEMA))
        counts[lo:hi] = part["counts"]
        kind_hist += np.bincount(lab["kind"], minlength=len(EVENT_KINDS))
        keep_sum += int(lab["keep"].sum())
        n_events += len(ev)
        n_test += len(part["test"])
    for wr in writers.values():
        wr.close()
    split = np.full(cfg.n_users, "train", dtype=object)
    valid = np.random.default_rng([cfg.seed, 707]).permutation(cfg.n_users)
    split[valid[: round(cfg.valid_fraction * cfg.n_users)]] = "valid"
    cold = counts[:, 2] < cfg.cold_max_clicks
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array(users.ids, pa.string()),
                "split": pa.array(split.tolist(), pa.string()),
                "cold": pa.array(cold),
            },
            schema=USERS_SCHEMA,
        ),
        out / "users.parquet",
        **PARQUET,
    )
    means = counts.mean(0)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "config": dataclasses.asdict(cfg),
        **w,
        "counts": {
            "users": cfg.n_users,
            "news": cfg.n_news,
            "events": n_events,
            "test_clicks": n_test,
            "test_news": int((news.published >= w["test_start"]).sum()),
            "mean_search": round(float(means[0]), 4),
            "mean_browse": round(float(means[1]), 4),
            "mean_clicks": round(float(means[2]), 4),
            "cold_users": int(cold.sum()),
            "valid_users": int((split == "valid").sum()),
            "noise_share": round(1 - keep_sum / max(n_events, 1), 4),
            "event_kinds": dict(zip(EVENT_KINDS, kind_hist.tolist(), strict=True)),
        },
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_report(out, {"generation": report.finish(ctx)})
    return meta
