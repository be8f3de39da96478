"""What event and test-click generation share: the world `Context` and its samplers.

`Context` bundles the config, structure space, string pools, news and users with time-windowed
article samplers: by (entity, sub-topic) pair, by entity, by sub-topic, over all content and
over the daily utility articles. The functions below are the choices every click draws through:
which interest slot an event comes from (`slot`), whether it wanders to a neighbouring entity or
sub-topic (`explore`), and which article an interest click lands on (`pick_article`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxinterest.data.entities import Space, sample_within
from jaxinterest.data.noise import NoisePools
from jaxinterest.data.surfaces import Pools
from jaxinterest.data.world_news import News, WindowSampler
from jaxinterest.data.world_users import DAY, Users


@dataclass
class Context:
    cfg: object  # WorldConfig
    space: Space
    pools: Pools
    noise: NoisePools
    news: News
    users: Users
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    by_pair: WindowSampler = None
    by_entity: WindowSampler = None
    by_sub: WindowSampler = None
    by_all: WindowSampler = None
    utility: WindowSampler = None

    def __post_init__(self):
        n = self.news
        self.titles = n.table.column("title").combine_chunks()
        self.news_ids = n.table.column("news_id").combine_chunks()
        ones = np.ones(len(n.published), bool)
        # inside an interest, popularity matters less than on the front page: flatter weights
        flat = np.sqrt(n.pop)
        pair = np.where(n.entity >= 0, pair_key(self.space, n.entity, n.sub), -1)
        self.by_pair = WindowSampler(pair, n.published, flat, self.train_start, ones)
        self.by_entity = WindowSampler(n.entity, n.published, flat, self.train_start, ones)
        self.by_sub = WindowSampler(n.sub, n.published, flat, self.train_start, ones)
        content = n.sub >= 0
        fresh = (n.published >= self.test_start) & (n.entity >= 0)
        self.fresh_per_entity = np.bincount(n.entity[fresh], minlength=self.space.n_entities)
        self.by_all = WindowSampler(
            np.where(content, 0, -1), n.published, n.pop, self.train_start, ones
        )
        self.utility = WindowSampler(
            np.where(content, -1, 0), n.published, n.pop, self.train_start, ones
        )


def pair_key(space: Space, ent: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """One group id per (entity, sub-topic) pair; -1 where there is no entity."""
    ent, sub = np.asarray(ent, np.int64), np.asarray(sub, np.int64)
    return np.where(ent >= 0, ent * space.n_subtopics + sub, -1)


def explore(ctx: Context, sub, ent, rng, rate: float):
    """With prob `rate` move to another entity (and with rate/2 to another sub-topic) of the
    same category: the user wanders next to an interest."""
    sp, n = ctx.space, len(sub)
    cat = sp.sub_category[sub]
    new_ent = sample_within(cat, sp.entity_pop, sp.entity_category, rng.random(n))
    new_sub = sample_within(cat, sp.sub_pop, sp.sub_category, rng.random(n))
    ent = np.where((ent >= 0) & (rng.random(n) < rate), new_ent, ent)
    sub = np.where(rng.random(n) < rate / 2, new_sub, sub)
    return sub.astype(np.int64), ent.astype(np.int64)


def pick_article(ctx: Context, sub, ent, t, lo_bound, rng, recent=3 * DAY, hi=None):
    """Article for interest clicks published in [lo_bound, hi] (default hi = the click time t):
    one on the same entity AND sub-topic if there is one, else the same entity (in the last
    `recent` seconds when hi is t), else the same sub-topic (recent first), else any content
    article; -1 when nothing qualifies. With hi past t the caller moves the click after the
    article's publication (`fix_time`): a user who follows a story reads its next article."""
    n = len(t)
    lo = np.full(n, lo_bound)
    hi = t if hi is None else np.full(n, hi)
    pick = ctx.by_pair.sample(pair_key(ctx.space, ent, sub), lo, hi, rng.random(n))
    for sampler, group, start in (
        (ctx.by_entity, ent, np.maximum(t - recent, lo_bound)),
        (ctx.by_sub, sub, np.maximum(t - 2 * DAY, lo_bound)),
        (ctx.by_sub, sub, lo),
        (ctx.by_all, np.zeros(n, np.int64), lo),
    ):
        miss = np.flatnonzero(pick < 0)
        if not len(miss):
            break
        pick[miss] = sampler.sample(group[miss], start[miss], hi[miss], rng.random(len(miss)))
    return pick


def pick_utility(ctx: Context, t, lo_bound, hi_bound, rng):
    """A daily utility article for noise clicks at times t: one of the last day's, else any of
    the window's (`fix_time` then moves the click after it). Never a content article, so the
    noise label stays true."""
    n = len(t)
    pick = ctx.utility.sample(np.zeros(n), np.maximum(t - DAY, lo_bound), t, rng.random(n))
    miss = np.flatnonzero(pick < 0)
    if len(miss):
        pick[miss] = ctx.utility.sample(
            np.zeros(len(miss)),
            np.full(len(miss), lo_bound),
            np.full(len(miss), hi_bound - 120),
            rng.random(len(miss)),
        )
    return pick


def fix_time(ctx: Context, pick, t, lo_bound, hi_bound, rng):
    """Any article where none was found (and never one published after the click: bump the
    click time instead)."""
    miss = pick < 0
    if miss.any():
        pick[miss] = ctx.by_all.sample(
            np.zeros(miss.sum()),
            np.full(miss.sum(), lo_bound),
            np.full(miss.sum(), hi_bound - 120),
            rng.random(miss.sum()),
        )
    return pick, np.minimum(np.maximum(t, ctx.news.published[pick] + 60), hi_bound - 1)


def choose_slot(weights: np.ndarray, user: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Weighted interest slot per event. weights: [n_users, K] rows summing to 1; user, u: [m]."""
    cw = np.cumsum(weights, 1)
    k = weights.shape[1]
    key = (np.arange(len(weights))[:, None] + cw / cw[:, -1:]).ravel()  # sorted: row + cum share
    pos = np.searchsorted(key, user + u * (1 - 1e-12), side="right")
    return np.clip(pos - user * k, 0, k - 1)
