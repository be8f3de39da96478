"""Behaviour events for one chunk of users, fully vectorised over events.

Steps for users [lo, hi): draw every raw event (domain, noise or interest slot, timestamp inside
the interest's active window), keep the 50 most recent per user and domain (the paper's
truncation), then render text only for the kept events: queries and pages from the interest's
sub-topic/entity (sometimes a neighbouring one: exploration), clicks on articles of that
sub-topic/entity published shortly before the click. Test-week clicks: `world_test_week.py`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jaxinterest.data.entities import sample_within
from jaxinterest.data.noise import NOISE_KINDS, render_browse_noise, render_search_noise
from jaxinterest.data.surfaces import render_browse, render_search
from jaxinterest.data.world_context import (
    Context,
    choose_slot,
    explore,
    fix_time,
    pick_article,
    pick_utility,
)
from jaxinterest.data.world_users import DAY, K_MAX

DOMAINS = ("search", "browse", "click")
# event kinds in the oracle file: interest events, popularity clicks, then the noise kinds
EVENT_KINDS = ("interest", "popular") + NOISE_KINDS


def _gather(n: int, parts: list[tuple[np.ndarray, pa.Array]], order: np.ndarray) -> pa.Array:
    """Column whose row r holds part values for rows[order[r]]; rows no part covers are null."""
    rows = np.concatenate([r for r, _ in parts] + [np.zeros(0, np.int64)])
    vals = pa.concat_arrays([v.cast(pa.string()) for _, v in parts] + [pa.nulls(1, pa.string())])
    idx = np.full(n, len(vals) - 1, np.int64)
    idx[rows] = np.arange(len(rows))
    return vals.take(pa.array(idx[order]))


def _noise_entity(ctx: Context, gu: np.ndarray, rng) -> np.ndarray:
    """Entity for hard noise rows (one of the user's interest entities), else -1."""
    us, sp, n = ctx.users, ctx.space, len(gu)
    slot = choose_slot(us.weight, gu, rng.random(n))
    ent = us.entity[gu, slot].astype(np.int64)
    cat = sp.sub_category[us.sub[gu, slot]]
    fill = sample_within(cat, sp.entity_pop, sp.entity_category, rng.random(n))
    ent = np.where(ent < 0, fill, ent)
    return np.where(rng.random(n) < ctx.cfg.hard_noise_rate, ent, -1)


def make_chunk(ctx: Context, lo: int, hi: int, rng: np.random.Generator) -> dict:
    """Events and noise labels of users [lo, hi) (event ids are assigned by the caller)."""
    cfg, us = ctx.cfg, ctx.users
    counts = np.minimum(us.raw_counts[lo:hi], cfg.raw_cap)  # [n, 3]
    n_u = hi - lo
    user = np.repeat(np.repeat(np.arange(n_u), 3), counts.ravel())
    dom = np.repeat(np.tile(np.arange(3), n_u), counts.ravel())
    m = len(user)
    noise_p = cfg.noise_rate * np.array([cfg.search_noise_scale, 1.0, cfg.click_noise_scale])
    r = rng.random(m)
    is_noise = r < noise_p[dom]
    is_pop = ~is_noise & (dom == 2) & (r < noise_p[dom] + cfg.popular_click_rate)
    is_int = ~(is_noise | is_pop)
    gu = lo + user
    slot = np.zeros(m, np.int64)
    u_slot = rng.random(m)
    for d in range(3):  # each domain sees the interests with its own visibility
        rows = np.flatnonzero(dom == d)
        slot[rows] = choose_slot(us.dom_weight[lo:hi, :, d], user[rows], u_slot[rows])
    ws = np.where(
        is_int, np.maximum(us.t0[gu, slot], ctx.train_start + 3600), ctx.train_start + 3600
    )
    we = np.where(is_int, np.minimum(us.t1[gu, slot], ctx.train_end), ctx.train_end)
    t = ws + np.floor(rng.random(m) * (we - ws)).astype(np.int64)
    # keep the cfg.max_per_domain most recent events per (user, domain)
    rel = t - ctx.train_start  # < 2**22 seconds in a 30-day window
    order = np.argsort((user * 3 + dom) * (1 << 23) + ((1 << 23) - 1 - rel), kind="stable")
    g = user[order] * 3 + dom[order]
    first = np.r_[True, g[1:] != g[:-1]]
    rank = np.arange(m) - np.maximum.accumulate(np.where(first, np.arange(m), 0))
    keep = np.sort(order[rank < cfg.max_per_domain])
    user, dom, gu, slot, t = user[keep], dom[keep], gu[keep], slot[keep], t[keep]
    is_noise, is_pop, is_int = is_noise[keep], is_pop[keep], is_int[keep]
    n = len(user)
    # what each latent interest showed of itself in each domain (the world report reads this)
    seen = np.zeros((n_u, K_MAX, 3), np.int64)
    np.add.at(seen, (user[is_int], slot[is_int], dom[is_int]), 1)
    first_seen = np.full((n_u, K_MAX), ctx.train_end, np.int64)
    np.minimum.at(first_seen, (user[is_int], slot[is_int]), t[is_int])
    sub, ent = explore(ctx, us.sub[gu, slot], us.entity[gu, slot], rng, cfg.explore)
    kind = np.where(is_int, 0, np.where(is_pop, 1, 0)).astype(np.int8)
    fam = np.full(n, -1, np.int8)  # phrasing family of noise events (noise_vocab.py)
    nrng = np.random.default_rng([cfg.seed, 909, lo])  # noise wording: its own stream
    text, url, nid = [], [], []
    # search
    rows = np.flatnonzero(is_int & (dom == 0))
    ent2 = sample_within(
        ctx.space.sub_category[sub[rows]],
        ctx.space.entity_pop,
        ctx.space.entity_category,
        rng.random(len(rows)),
    )
    text.append((rows, render_search(ctx.pools, sub[rows], ent[rows], ent2, cfg.typo_rate, rng)))
    rows = np.flatnonzero(is_noise & (dom == 0))
    q, k, f = render_search_noise(
        ctx.noise, ctx.pools, _noise_entity(ctx, gu[rows], rng), rng, nrng
    )
    text.append((rows, q))
    kind[rows], fam[rows] = 2 + k, f
    # browse
    rows = np.flatnonzero(is_int & (dom == 1))
    ti, ur = render_browse(ctx.pools, ctx.space, sub[rows], ent[rows], rng)
    text.append((rows, ti)), url.append((rows, ur))
    rows = np.flatnonzero(is_noise & (dom == 1))
    ti, ur, k, f = render_browse_noise(
        ctx.noise, ctx.pools, _noise_entity(ctx, gu[rows], rng), rng, nrng
    )
    text.append((rows, ti)), url.append((rows, ur))
    kind[rows], fam[rows] = 2 + k, f
    # clicks: interest, popular, utility (noise)
    rows = np.flatnonzero(dom == 2)
    rt = t[rows]
    pick = pick_article(ctx, sub[rows], ent[rows], rt, ctx.train_start, rng)
    pop = is_pop[rows]
    pick[pop] = ctx.by_all.sample(
        np.zeros(pop.sum()),
        np.maximum(rt[pop] - 2 * DAY, ctx.train_start),
        rt[pop],
        rng.random(pop.sum()),
    )
    noi = is_noise[rows]
    pick[noi] = pick_utility(ctx, rt[noi], ctx.train_start, ctx.train_end, rng)
    kind[rows[noi]] = 2 + NOISE_KINDS.index("daily")
    pick, t[rows] = fix_time(ctx, pick, rt, ctx.train_start, ctx.train_end, rng)
    fam[rows[noi]] = ctx.news.phrasing[pick[noi]]
    text.append((rows, ctx.titles.take(pa.array(pick))))
    nid.append((rows, ctx.news_ids.take(pa.array(pick))))
    # final order: user, time, domain (stable)
    fin = np.argsort(user * (1 << 26) + (t - ctx.train_start) * 4 + dom, kind="stable")
    ids = pa.array(us.ids[lo:hi], pa.string())
    events = pa.table(
        {
            "user_id": ids.take(pa.array(user[fin])),
            "domain": pa.array(DOMAINS, pa.string()).take(pa.array(dom[fin])),
            "timestamp": pa.array(t[fin], pa.int64()),
            "text": _gather(n, text, fin),
            "url": _gather(n, url, fin),
            "news_id": _gather(n, nid, fin),
        }
    )
    labels = {"keep": (kind[fin] < 2).astype(np.int8), "kind": kind[fin], "phrasing": fam[fin]}
    clicks = np.bincount(user[dom == 2], minlength=n_u)
    return {
        "events": events,
        "labels": labels,
        "train_clicks": clicks,
        "slot_counts": seen,
        "slot_first_seen": first_seen,
        "counts": np.stack([np.bincount(user[dom == d], minlength=n_u) for d in range(3)], 1),
    }
