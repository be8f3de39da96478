"""Test-week clicks: the held-out target, on fresh articles published in the test week.

Clicks come from the interests still alive in the test week (stable and emerging; emerging ones
weigh 1.5x), wander to a neighbouring entity/sub-topic like training events do, and a share goes
to popular articles and daily utility articles. One row per (user, article), the first click.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jaxinterest.data.world_context import (
    Context,
    choose_slot,
    explore,
    fix_time,
    pick_article,
    pick_utility,
)
from jaxinterest.data.world_users import DAY

SOURCES = ("pair", "entity", "subtopic", "wander", "popular", "daily")


def make_test_clicks(ctx: Context, lo: int, hi: int, rng: np.random.Generator):
    """Test-week clicks of users [lo, hi) on articles published in the test week.

    Returns (table, provenance): provenance holds per row of the table the chunk-local user,
    the interest slot the click came from and its source (index into SOURCES: how the article
    matches that interest, or popular / daily), for the world report only.
    """
    cfg, us = ctx.cfg, ctx.users
    n_u = hi - lo
    per = 1 + rng.poisson(cfg.test_clicks_mean - 1, size=n_u)
    user = np.repeat(np.arange(n_u), per)
    m, gu = len(user), lo + user
    span = ctx.test_end - ctx.test_start - 3600
    t = ctx.test_start + 3600 + np.floor(rng.random(m) * span).astype(np.int64)
    # interests alive in the test week; emerging ones are the freshest, so they weigh more;
    # an entity nobody writes about this week draws no clicks (the user reads their other
    # interests instead), unless it is the user's only one
    ent = us.entity[lo:hi]
    supply = (ent < 0) | (ctx.fresh_per_entity[np.maximum(ent, 0)] > 0)
    alive = us.t1[lo:hi] >= ctx.test_start
    w = us.weight[lo:hi] * alive * np.where(us.kind[lo:hi] == 2, 1.5, 1.0)
    w = np.where((w * supply).sum(1, keepdims=True) > 0, w * supply, w)
    slot = choose_slot(w, user, rng.random(m))
    sub, ent = explore(ctx, us.sub[gu, slot], us.entity[gu, slot], rng, cfg.test_explore)
    pick = pick_article(
        ctx, sub, ent, t, ctx.test_start, rng, recent=7 * DAY, hi=ctx.test_end - 120
    )
    r = rng.random(m)
    daily = r < cfg.test_daily_rate
    pop = ~daily & (r < cfg.test_daily_rate + cfg.test_popular_rate)
    pick[pop] = ctx.by_all.sample(
        np.zeros(pop.sum()),
        np.maximum(t[pop] - 2 * DAY, ctx.test_start),
        t[pop],
        rng.random(pop.sum()),
    )
    pick[daily] = pick_utility(ctx, t[daily], ctx.test_start, ctx.test_end, rng)
    pick, t = fix_time(ctx, pick, t, ctx.test_start, ctx.test_end, rng)
    a_ent, a_sub = ctx.news.entity[pick], ctx.news.sub[pick]
    i_ent, i_sub = us.entity[gu, slot], us.sub[gu, slot]
    source = np.select(
        [
            daily,
            pop,
            (a_ent == i_ent) & (a_sub == i_sub) & (i_ent >= 0),
            a_ent == i_ent,
            a_sub == i_sub,
        ],
        [5, 4, 0, 1, 2],
        3,
    ).astype(np.int8)
    # one row per (user, article): the first click
    order = np.lexsort((t, pick, user))
    dup = np.r_[
        False, (user[order][1:] == user[order][:-1]) & (pick[order][1:] == pick[order][:-1])
    ]
    sel = order[~dup]
    sel = sel[np.lexsort((pick[sel], t[sel], user[sel]))]
    table = pa.table(
        {
            "user_id": pa.array(us.ids[lo:hi], pa.string()).take(pa.array(user[sel])),
            "news_id": ctx.news_ids.take(pa.array(pick[sel])),
            "timestamp": pa.array(t[sel], pa.int64()),
        }
    )
    return table, {"user": user[sel], "slot": slot[sel], "source": source[sel]}
