"""Test-week clicks: the held-out target, on fresh articles published in the test week.

Clicks come from the interests still alive in the test week (stable and emerging; emerging ones
weigh 1.5x), wander to a neighbouring entity/sub-topic like training events do, and a share goes
to popular articles and daily utility articles. One row per (user, article), the first click.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jaxinterest.data.world_events import Context, _explore, _fix_time, _pick_article, _slot
from jaxinterest.data.world_users import DAY


def make_test_clicks(ctx: Context, lo: int, hi: int, rng: np.random.Generator) -> pa.Table:
    """Test-week clicks of users [lo, hi) on articles published in the test week."""
    cfg, us = ctx.cfg, ctx.users
    n_u = hi - lo
    per = 1 + rng.poisson(cfg.test_clicks_mean - 1, size=n_u)
    user = np.repeat(np.arange(n_u), per)
    m, gu = len(user), lo + user
    span = ctx.test_end - ctx.test_start - 3600
    t = ctx.test_start + 3600 + np.floor(rng.random(m) * span).astype(np.int64)
    # interests alive in the test week; emerging ones are the freshest, so they weigh more
    w = (
        us.weight[lo:hi]
        * (us.t1[lo:hi] >= ctx.test_start)
        * np.where(us.kind[lo:hi] == 2, 1.5, 1.0)
    )
    slot = _slot(w, user, rng.random(m))
    sub, ent = _explore(ctx, us.sub[gu, slot], us.entity[gu, slot], rng)
    pick = _pick_article(ctx, sub, ent, t, ctx.test_start, rng, recent=2 * DAY)
    r = rng.random(m)
    daily = r < cfg.test_daily_rate
    pop = ~daily & (r < cfg.test_daily_rate + cfg.test_popular_rate)
    pick[pop] = ctx.by_all.sample(
        np.zeros(pop.sum()),
        np.maximum(t[pop] - 2 * DAY, ctx.test_start),
        t[pop],
        rng.random(pop.sum()),
    )
    pick[daily] = ctx.utility.sample(
        np.zeros(daily.sum()),
        np.maximum(t[daily] - DAY, ctx.test_start),
        t[daily],
        rng.random(daily.sum()),
    )
    pick, t = _fix_time(ctx, pick, t, ctx.test_start, ctx.test_end, rng)
    # one row per (user, article): the first click
    order = np.lexsort((t, pick, user))
    dup = np.r_[
        False, (user[order][1:] == user[order][:-1]) & (pick[order][1:] == pick[order][:-1])
    ]
    sel = order[~dup]
    sel = sel[np.lexsort((pick[sel], t[sel], user[sel]))]
    return pa.table(
        {
            "user_id": pa.array(us.ids[lo:hi], pa.string()).take(pa.array(user[sel])),
            "news_id": ctx.news_ids.take(pa.array(pick[sel])),
            "timestamp": pa.array(t[sel], pa.int64()),
        }
    )
