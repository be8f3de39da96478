"""Users' training-window behaviour as padded, time-ordered sequences (the baselines' input).

Only `events`, `users` and `news` are read: never the test clicks (the evaluation reads those)
and never `oracle/`. A keep mask from the noise classifier (`clean`) removes noise events first.

A user's stream is slot 0 = BOS, then their events of the chosen domains in time order (ties
keep file order), the `max_len` most recent kept. A click's text is its article's title from
news.parquet, so an article has one embedding whether it is an input, a target or a candidate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from jaxinterest.data.columns import column

DOMAINS = ("search", "browse", "click")
CLICK = DOMAINS.index("click")
BOS = len(DOMAINS)  # domain code of slot 0 (and of padding)
N_CODES = BOS + 1


@dataclasses.dataclass(frozen=True, eq=False)
class Events:
    """The behaviour rows a model may read, sorted by (user, time). Arrays are [M]."""

    user: np.ndarray  # int64 row in users.parquet
    dom: np.ndarray  # int32 index into DOMAINS
    time: np.ndarray  # int64 unix seconds
    text: list[str]  # query / page title / article title
    item: np.ndarray  # int32 news.parquet row of a click, -1 otherwise


@dataclasses.dataclass(frozen=True, eq=False)
class Streams:
    """One padded sequence per user, [U, T]; slot 0 is BOS, slots >= length are padding."""

    text: np.ndarray  # int32 TextTable row (0 for BOS and padding)
    dom: np.ndarray  # int32 domain code (BOS for slot 0 and padding)
    time: np.ndarray  # int32 seconds since the training window's start
    item: np.ndarray  # int32 news row of a click, -1 otherwise
    length: np.ndarray  # int32 [U] slots in use (1 + events)

    def take(self, rows) -> Streams:
        return Streams(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


def check_domains(domains: Sequence[str]) -> tuple[str, ...]:
    bad = [d for d in domains if d not in DOMAINS]
    if bad or not domains:
        raise ValueError(f"domains must be a non-empty subset of {DOMAINS}, got {tuple(domains)}")
    return tuple(d for d in DOMAINS if d in domains)


def user_events(world, domains: Sequence[str], keep=None) -> Events:
    """The events of `domains` (rows with keep[i] False dropped), sorted by (user, time)."""
    domains = check_domains(domains)
    users = column(world.users, "user_id")
    urow = {u: i for i, u in enumerate(users)}
    ev_users = column(world.events, "user_id")
    ev_dom = column(world.events, "domain")
    if keep is not None and len(keep) != len(ev_users):
        raise ValueError(f"keep mask has {len(keep)} rows for {len(ev_users)} events")
    wanted = {d: DOMAINS.index(d) for d in domains}
    rows = np.array(
        [i for i, d in enumerate(ev_dom) if d in wanted and (keep is None or keep[i])], np.int64
    )
    try:
        user = np.fromiter((urow[ev_users[i]] for i in rows), np.int64, count=len(rows))
    except KeyError as err:
        raise KeyError(f"events user {err.args[0]!r} is not in users.parquet") from err
    dom = np.fromiter((wanted[ev_dom[i]] for i in rows), np.int32, count=len(rows))
    time = np.asarray(column(world.events, "timestamp"), np.int64)[rows]
    texts = column(world.events, "text")
    news_row = {n: i for i, n in enumerate(column(world.news, "news_id"))}
    titles = column(world.news, "title")
    ev_news = column(world.events, "news_id")
    item = np.full(len(rows), -1, np.int32)
    text = []
    for j, i in enumerate(rows):
        if dom[j] == CLICK:
            nid = ev_news[i]
            if nid not in news_row:
                raise KeyError(f"events row {i}: click news_id {nid!r} is not in news.parquet")
            item[j] = news_row[nid]
            text.append(titles[item[j]])
        else:
            text.append(texts[i])
    order = np.lexsort((rows, time, user))  # by user, then time, then file order
    return Events(user[order], dom[order], time[order], [text[i] for i in order], item[order])


def to_streams(events: Events, text_rows: np.ndarray, n_users: int, start: int, max_len: int):
    """Pack Events into Streams. text_rows: int32 [M] TextTable rows of events.text."""
    m = len(events.user)
    counts = np.bincount(events.user, minlength=n_users)
    ends = np.cumsum(counts)
    from_end = ends[events.user] - np.arange(m) - 1  # 0 for a user's newest event
    keep = from_end < max_len
    length = 1 + np.minimum(counts, max_len)
    slot = (length[events.user] - 1 - from_end)[keep]  # 1..length-1, oldest kept first
    u = events.user[keep]
    width = int(length.max()) if n_users else 1
    text = np.zeros((n_users, width), np.int32)
    dom = np.full((n_users, width), BOS, np.int32)
    time = np.zeros((n_users, width), np.int32)
    item = np.full((n_users, width), -1, np.int32)
    text[u, slot] = text_rows[keep]
    dom[u, slot] = events.dom[keep]
    time[u, slot] = (events.time[keep] - start).astype(np.int32)
    item[u, slot] = events.item[keep]
    # BOS carries the time of the user's first kept event (relative-time biases stay small)
    first = np.where(length > 1, time[:, 1] if width > 1 else 0, 0)
    time[:, 0] = first
    return Streams(text, dom, time, item, length.astype(np.int32))


def clicked_items(world) -> np.ndarray:
    """Sorted distinct news rows clicked in the training window (the negative catalogue)."""
    news_row = {n: i for i, n in enumerate(column(world.news, "news_id"))}
    rows = {
        news_row[n]
        for d, n in zip(
            column(world.events, "domain"), column(world.events, "news_id"), strict=True
        )
        if d == "click" and n in news_row
    }
    return np.array(sorted(rows), np.int32)


def test_items(world) -> np.ndarray:
    """news rows published in the test window (the candidates), in news.parquet order."""
    published = np.asarray(column(world.news, "published"), np.int64)
    lo, hi = int(world.meta["test_start"]), int(world.meta["test_end"])
    return np.flatnonzero((published >= lo) & (published < hi)).astype(np.int32)


def user_split(world) -> tuple[np.ndarray, np.ndarray]:
    """(valid bool [U], cold bool [U]) from users.parquet."""
    split = column(world.users, "split")
    bad = [i for i, s in enumerate(split) if s not in ("train", "valid")]
    if bad:
        raise ValueError(f"users.parquet row {bad[0]}: split {split[bad[0]]!r} not train/valid")
    valid = np.array([s == "valid" for s in split])
    return valid, np.asarray(column(world.users, "cold"), bool)
