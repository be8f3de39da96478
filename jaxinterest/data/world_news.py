"""News articles of the synthetic world and a time-windowed, popularity-weighted sampler.

Articles are published uniformly over the training month and the test week. Each has a
category, a sub-topic, a primary entity (Zipf-popular inside its category), maybe a second
entity, and a popularity weight (entity popularity x a log-normal "virality"), which drives
clicks and makes a popularity baseline non-trivial. A few "utility" articles a day (horoscope,
lottery numbers, crossword) are the click-domain noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jaxinterest.data import vocab
from jaxinterest.data.entities import HOME_RATE, Space, sample_within, with_home
from jaxinterest.data.noise_vocab import DAILY
from jaxinterest.data.surfaces import Pools, render_news
from jaxinterest.data.textgen import Templates, pool

# Daily utility titles: phrasing families of the `daily` noise kind (noise_vocab.DAILY).
UTILITY_TITLES = Templates(tuple(t for fam in DAILY for t in fam))
_DAILY_START = np.cumsum([0] + [len(f) for f in DAILY])
UTILITY_ABSTRACT = "Daily service update published every morning."
_KEY = 1 << 23  # > seconds in the 37-day world, so group * _KEY + seconds sorts by (group, time)


@dataclass(frozen=True)
class News:
    """N articles sorted by publication time. Arrays are [N]."""

    table: pa.Table  # news.parquet contents
    published: np.ndarray  # int64 unix seconds
    category: np.ndarray  # int32, n_categories for utility articles
    sub: np.ndarray  # int32, -1 for utility
    entity: np.ndarray  # int32 primary entity, -1 for utility
    pop: np.ndarray  # float64 popularity weight
    phrasing: np.ndarray  # int8 phrasing family of a utility article (noise_vocab.DAILY), else -1


def make_news(space: Space, pools: Pools, n_news: int, start: int, days: int, seed: int) -> News:
    rng = np.random.default_rng([seed, 404])
    n_util_day = max(1, round(0.004 * n_news / days))
    n_util = n_util_day * days
    n = n_news - n_util
    cat = rng.choice(space.n_categories, size=n, p=space.category_pop).astype(np.int32)
    sub = sample_within(cat, space.sub_pop, space.sub_category, rng.random(n)).astype(np.int32)
    ent = sample_within(cat, space.entity_pop, space.entity_category, rng.random(n)).astype(
        np.int32
    )
    ent2 = sample_within(cat, space.entity_pop, space.entity_category, rng.random(n)).astype(
        np.int32
    )
    sub = with_home(space, sub, ent, HOME_RATE, rng.random(n)).astype(np.int32)
    day = rng.integers(days, size=n)
    title, abstract = render_news(pools, space, sub, ent, ent2, day, rng)
    # Popularity: famous entities get more clicks; virality is heavy-tailed.
    counts = np.bincount(space.entity_category, minlength=space.n_categories)
    fame = (space.entity_pop[ent] * counts[cat]) ** 0.5
    pop = fame * rng.lognormal(0.0, 1.0, size=n) * space.category_pop[cat] * space.n_categories
    with_second = (ent2 != ent) & (rng.random(n) < 0.6)
    # utility articles: one block per day
    u_day = np.repeat(np.arange(days), n_util_day)
    rng.integers(11, size=n_util)  # the single-family titles' draw, spent: later draws unchanged
    # title wording from its own stream: a family, then one of its titles
    wrng = np.random.default_rng([seed, 405])
    u_fam = wrng.integers(len(DAILY), size=n_util)
    u_tid = _DAILY_START[u_fam] + (
        wrng.random(n_util) * (_DAILY_START[u_fam + 1] - _DAILY_START[u_fam])
    ).astype(np.int64)
    date = pool(_date_str(start + d * 86400) for d in range(days))
    cities = pool(vocab.CITIES)
    u_title = UTILITY_TITLES.render(
        u_tid, {"d": (date, u_day), "c": (cities, rng.integers(len(vocab.CITIES), size=n_util))}
    )
    u_pop = rng.lognormal(0.5, 0.5, size=n_util)
    # merge and sort by publication time (seconds drawn inside each day)
    all_day = np.concatenate([day, u_day])
    published = start + all_day * 86400 + rng.integers(0, 86400, size=n_news)
    order = np.lexsort((np.arange(n_news), published))
    published = published[order]
    category = np.concatenate([cat, np.full(n_util, space.n_categories, np.int32)])[order]
    sub_all = np.concatenate([sub, np.full(n_util, -1, np.int32)])[order]
    ent_all = np.concatenate([ent, np.full(n_util, -1, np.int32)])[order]
    pop_all = np.concatenate([pop, u_pop])[order]
    phrasing = np.concatenate([np.full(n, -1, np.int8), u_fam.astype(np.int8)])[order]
    titles = pa.concat_arrays([title, u_title]).take(pa.array(order))
    abstracts = pa.concat_arrays(
        [abstract, pa.array([UTILITY_ABSTRACT] * n_util, pa.string())]
    ).take(pa.array(order))
    cat_names = pool(space.category_names + ("utility",)).take(pa.array(category))
    # entities list<string>: primary, then the second entity when the title uses it
    has2 = np.concatenate([with_second, np.zeros(n_util, bool)])[order]
    n_ent = np.where(ent_all >= 0, 1 + has2, 0)
    offsets = np.concatenate([[0], np.cumsum(n_ent)]).astype(np.int32)
    ent2_all = np.concatenate([ent2, np.full(n_util, -1, np.int32)])[order]
    flat = np.stack([ent_all, ent2_all], 1)[np.arange(2)[None, :] < n_ent[:, None]]
    entities = pa.ListArray.from_arrays(pa.array(offsets), pools.E.take(pa.array(flat)))
    ids = pa.array([f"N{i:07d}" for i in range(n_news)], pa.string())
    table = pa.table(
        {
            "news_id": ids,
            "title": titles,
            "abstract": abstracts,
            "category": cat_names,
            "entities": entities,
            "published": pa.array(published, pa.int64()),
        }
    )
    return News(table, published, category, sub_all, ent_all, pop_all, phrasing)


def _date_str(ts: int) -> str:
    import datetime as dt

    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return f"{d.strftime('%B')} {d.day}"


class WindowSampler:
    """Popularity-weighted choice of an article of a group published inside a time window."""

    def __init__(
        self,
        group: np.ndarray,
        published: np.ndarray,
        pop: np.ndarray,
        start: int,
        mask: np.ndarray,
    ):
        items = np.flatnonzero(mask & (group >= 0))
        rel = published[items] - start
        key = group[items].astype(np.int64) * _KEY + rel
        order = np.argsort(key, kind="stable")
        self.items, self.key, self.start = items[order], key[order], start
        self.cum = np.cumsum(pop[self.items])

    def sample(self, g: np.ndarray, t0: np.ndarray, t1: np.ndarray, u: np.ndarray) -> np.ndarray:
        """g, t0, t1 (unix s, inclusive), u: [n]. Returns article index or -1 if none."""
        g = np.asarray(g, np.int64)
        lo = np.searchsorted(self.key, g * _KEY + (t0 - self.start), side="left")
        hi = np.searchsorted(self.key, g * _KEY + (t1 - self.start), side="right")
        ok = (hi > lo) & (g >= 0)
        lo_c, hi_c = np.minimum(lo, len(self.cum) - 1), np.maximum(hi - 1, 0)
        base = np.where(lo > 0, self.cum[np.maximum(lo - 1, 0)], 0.0)
        total = self.cum[hi_c] - base
        pos = np.searchsorted(self.cum, base + u * total, side="right")
        pos = np.clip(pos, lo_c, np.maximum(hi_c, lo_c))
        return np.where(ok, self.items[pos], -1)
