"""Reference query generators that prove the evaluation instrument before any model exists.

Each returns {user_id: [query, ...]} for every user of the world and reads only the training
window (events.parquet, news.parquet); none reads test_clicks or the oracle.

- own_searches: the user's own most recent distinct search queries, newest first, optionally
  after noise cleaning (a keep mask over event rows).
- popularity: the titles of the most-clicked training-window articles, the same list for every
  user. Test-week articles are all fresh, so training-window popularity cannot be looked up for
  them; using popular past titles as queries projects it onto the fresh articles most similar
  to what everyone read, through the same retrieval path as every other recommender.
- shuffled_searches: another user's own_searches list (a random derangement of users), a floor
  that has realistic query text but no link to the user; own_searches must beat it.
- recent_behaviours: the user's most recent distinct behaviours of every domain (queries, page
  titles, clicked titles) as queries: the simplest reader of all three domains, so the gap
  between it and own_searches shows what the cross-domain signal is worth without any model.

The ceiling diagnostics that read the latent interests live apart, in `eval/oracle.py`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from jaxinterest.data.columns import column

RECOMMENDERS = ("own-searches", "popularity", "shuffled-searches", "recent-behaviours")


def own_searches(world, n: int = 10, keep_mask=None) -> dict[str, list[str]]:
    """Per user, up to n distinct (case-insensitive) search queries, newest first.

    keep_mask: optional bool [N events] from noise cleaning; dropped events are not used.
    """
    return recent_texts(world, ("search",), n, keep_mask)


def recent_behaviours(world, n: int = 10, keep_mask=None) -> dict[str, list[str]]:
    """Per user, up to n distinct behaviour texts of any domain, newest first."""
    return recent_texts(world, ("search", "browse", "click"), n, keep_mask)


def recent_texts(world, domains, n: int = 10, keep_mask=None) -> dict[str, list[str]]:
    """Per user, up to n distinct (case-insensitive) texts of events in `domains`, newest
    first; keep_mask (bool [N events]) drops events."""
    users = column(world.events, "user_id")
    texts = column(world.events, "text")
    times = np.asarray(column(world.events, "timestamp"), np.int64)
    if keep_mask is not None and len(keep_mask) != len(users):
        raise ValueError(f"keep_mask has {len(keep_mask)} rows for {len(users)} events")
    wanted = set(domains)
    rows = [
        i
        for i, d in enumerate(column(world.events, "domain"))
        if d in wanted and (keep_mask is None or keep_mask[i])
    ]
    # Newest first, whatever the table order; row index breaks timestamp ties deterministically.
    rows.sort(key=lambda i: (-times[i], -i))
    out: dict[str, list[str]] = {u: [] for u in column(world.users, "user_id")}
    seen: dict[str, set[str]] = {}
    for i in rows:
        u, q = users[i], texts[i].strip()
        key = q.lower()
        lst = out.setdefault(u, [])
        s = seen.setdefault(u, set())
        if q and key not in s and len(lst) < n:
            s.add(key)
            lst.append(q)
    return out


def popular_titles(world, n: int = 10) -> list[str]:
    """Titles of the n most-clicked training-window articles (ties broken by news id)."""
    clicks = Counter(
        nid
        for d, nid in zip(
            column(world.events, "domain"), column(world.events, "news_id"), strict=True
        )
        if d == "click" and nid
    )
    top = sorted(clicks.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    title = dict(zip(column(world.news, "news_id"), column(world.news, "title"), strict=True))
    missing = [nid for nid, _ in top if nid not in title]
    if missing:
        raise KeyError(f"clicked news_id {missing[0]!r} is not in news.parquet")
    return [title[nid] for nid, _ in top]


def popularity(world, n: int = 10) -> dict[str, list[str]]:
    """The same popular-title query list for every user."""
    titles = popular_titles(world, n)
    return {u: list(titles) for u in column(world.users, "user_id")}


def shuffled_searches(world, n: int = 10, seed: int = 0) -> dict[str, list[str]]:
    """Each user gets the own_searches list of a different, randomly chosen user."""
    own = own_searches(world, n)
    users = list(own)
    if len(users) < 2:
        raise ValueError("shuffled_searches needs at least two users")
    perm = np.random.default_rng(seed).permutation(len(users))
    # Cyclic shift along a random order: a derangement, nobody keeps their own list.
    donor = {users[perm[i]]: users[perm[(i + 1) % len(users)]] for i in range(len(users))}
    return {u: list(own[donor[u]]) for u in users}


def reference_queries(world, name: str, n: int = 10, keep_mask=None, seed: int = 0):
    if name == "own-searches":
        return own_searches(world, n, keep_mask)
    if name == "popularity":
        return popularity(world, n)
    if name == "shuffled-searches":
        return shuffled_searches(world, n, seed)
    if name == "recent-behaviours":
        return recent_behaviours(world, n, keep_mask)
    raise ValueError(f"unknown recommender {name!r}; use one of {RECOMMENDERS}")
