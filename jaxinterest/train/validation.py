"""Validation without the test week: the last days of the training window, held out.

The test week (`test_clicks.parquet`) is read once, by the final evaluation. Model selection
during training (the best checkpoint, the SFT report, the weak labeller's design) needs a
target of its own, so `holdout_world` cuts the training window at `train_end - days` and treats
what follows as a validation "test week" for the chosen users (the `valid` split by default):

  events       their events before the cut (what their prompts show);
  test_clicks  their clicks at or after the cut on articles published in [cut, train_end) (fresh
               articles only, as the real test week's clicks are);
  meta         train_end = test_start = cut, test_end = the real train_end.

The result is a `World` that `eval.evaluate_queries` scores as it scores the test week:
the same retrieval, merge and metrics, on a window no training signal has seen (validation
users never train, and the rewards read only events). Reads events, users and news; never the
test clicks, never oracle/.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jaxinterest.data.io import World

DAY = 86_400


def cut_events(events: pa.Table, cut: int) -> pa.Table:
    """The events strictly before timestamp `cut` (order kept)."""
    return events.filter(pc.less(events.column("timestamp"), cut))


def holdout_world(world: World, days: int = 7, split: str | None = "valid") -> World:
    """A World whose test window is the last `days` days of `world`'s training window, for the
    users of `split` (None = every user). `meta["holdout"]` counts what was held out.

    world: loaded with news, events and users. Raises ValueError when the window is too short
    or no chosen user clicked a fresh article after the cut.
    """
    if world.news is None or world.events is None or world.users is None:
        raise ValueError("holdout_world needs the world's news, events and users")
    start, end = int(world.meta["train_start"]), int(world.meta["train_end"])
    cut = end - int(days) * DAY
    if days < 1 or cut <= start:
        raise ValueError(
            f"days={days}: the training window [{start}, {end}) has no room for a "
            "validation window of that length"
        )
    users = world.users
    if split is not None:
        users = users.filter(pc.equal(users.column("split"), split))
    if len(users) == 0:
        raise ValueError(f"no users in split {split!r}")
    ids = users.column("user_id")
    ev = world.events.filter(pc.is_in(world.events.column("user_id"), value_set=ids))
    before = cut_events(ev, cut)
    has_events = pc.is_in(users.column("user_id"), value_set=before.column("user_id"))
    users = users.filter(has_events)  # a user with nothing before the cut has no prompt
    after = ev.filter(
        pc.and_(
            pc.greater_equal(ev.column("timestamp"), cut),
            pc.equal(ev.column("domain"), "click"),
        )
    )
    after = after.filter(pc.is_in(after.column("user_id"), value_set=users.column("user_id")))
    news = world.news
    news_pub = dict(
        zip(news.column("news_id").to_pylist(), news.column("published").to_pylist(), strict=True)
    )
    nids = after.column("news_id").to_pylist()
    fresh = np.array([cut <= news_pub.get(n, -1) < end for n in nids], bool)
    clicks = pa.table(
        {
            "user_id": after.column("user_id").filter(pa.array(fresh)),
            "news_id": after.column("news_id").filter(pa.array(fresh)),
            "timestamp": after.column("timestamp").filter(pa.array(fresh)),
        }
    )
    if len(clicks) == 0:
        raise ValueError(
            f"no user of split {split!r} clicked an article published in the last {days} days "
            "of the training window: nothing to validate on"
        )
    meta = dict(world.meta)
    meta.update(train_end=cut, test_start=cut, test_end=end)
    meta["holdout"] = {
        "days": int(days),
        "split": split,
        "users": len(users),
        "users_without_events_before_cut": int(len(has_events) - pc.sum(has_events).as_py()),
        "clicks": len(clicks),
        "clicks_not_fresh": int((~fresh).sum()),
        "users_with_clicks": len(set(clicks.column("user_id").to_pylist())),
    }
    return dataclasses.replace(world, meta=meta, events=before, users=users, test_clicks=clicks)
