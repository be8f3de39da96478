"""Table-specific validation: domains, order, duplicates, windows and cross-file references.

Each function adds bad-row masks to a `schema.Problems`; the file-level ordering rule (events
grouped and sorted by user_id) raises in both modes, because dropping rows cannot repair it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jaxinterest.data.schema import (
    DOMAINS,
    MAX_EVENTS_PER_DOMAIN,
    SPLITS,
    Problems,
    SchemaError,
    to_numpy,
)


def duplicates(col) -> np.ndarray:
    """[n] bool: True on every repeat of a value seen earlier in the column."""
    if pa.types.is_integer(col.type):
        v = to_numpy(col)
        if len(v) < 2 or (np.diff(v) > 0).all():  # strictly increasing ids: no sort needed
            return np.zeros(len(v), bool)
    else:
        v = to_numpy(pc.dictionary_encode(col).combine_chunks().indices)
    _, first = np.unique(v, return_index=True)
    mask = np.ones(len(col), bool)
    mask[first] = False
    return mask


def check_events(t: pa.Table, probs: Problems, meta: dict, strict: bool = False) -> None:
    """Row checks of events.parquet. More than 50 events of a user in a domain: the 50 most
    recent are kept and the rest dropped and counted (the paper's rule), or with strict=True
    reported as errors."""
    dom = t.column("domain")
    probs.add(
        ~to_numpy(pc.fill_null(pc.is_in(dom, pa.array(DOMAINS)), False)),
        "domain",
        f"unknown domain (allowed: {', '.join(DOMAINS)})",
        lambda r: repr(dom[r].as_py()),
    )
    probs.add(
        to_numpy(pc.fill_null(pc.equal(t.column("user_id"), ""), False)), "user_id", "empty user id"
    )
    click = to_numpy(pc.fill_null(pc.equal(dom, "click"), False))
    probs.add(click & to_numpy(pc.is_null(t.column("news_id"))), "news_id", "click without news_id")
    probs.add(duplicates(t.column("event_id")), "event_id", "duplicate event_id")
    ts = np.asarray(to_numpy(t.column("timestamp")), dtype=np.int64)  # no copy when already int64
    out = (ts < meta["train_start"]) | (ts >= meta["train_end"])
    probs.add(
        out,
        "timestamp",
        "outside the training window [train_start, train_end)",
        lambda r: str(ts[r]),
    )
    # order and limits are judged on the rows still kept (a dropped row cannot break order)
    rows = np.flatnonzero(probs.keep)
    if len(rows) < 2:
        return
    u = t.column("user_id")
    if len(rows) < len(t):  # copy only when rows were dropped
        u = u.take(pa.array(rows))
    prev_u, next_u = u.slice(0, len(rows) - 1), u.slice(1)
    back = np.flatnonzero(to_numpy(pc.fill_null(pc.less(next_u, prev_u), False)))
    if len(back):
        raise SchemaError(
            probs.file,
            int(rows[back[0] + 1]),
            "user_id",
            "events must be sorted by (user_id, timestamp); user ids go backwards "
            "here (sort the file)",
        )
    same = to_numpy(pc.fill_null(pc.equal(next_u, prev_u), False))
    tk = ts[rows] if len(rows) < len(t) else ts
    bad = np.zeros(len(t), bool)
    bad[rows[1:][same & (tk[1:] < tk[:-1])]] = True
    probs.add(bad, "timestamp", "timestamps out of order within a user", lambda r: str(ts[r]))
    # at most 50 events per (user, domain): rows beyond the most recent 50 are reported
    code = np.cumsum(np.r_[0, ~same], dtype=np.int32)  # user group number per kept row
    d = to_numpy(
        pc.index_in(dom.take(pa.array(rows)) if len(rows) < len(t) else dom, pa.array(DOMAINS))
    )
    d = np.nan_to_num(d.astype(np.float32), nan=3).astype(np.int32)
    g = code.astype(np.int64) * 4 + d
    if np.bincount(g).max() <= MAX_EVENTS_PER_DOMAIN:  # the usual case: no sort needed
        return
    order = np.lexsort((-tk, g))
    gs = g[order]
    first = np.r_[True, gs[1:] != gs[:-1]]
    rank = np.arange(len(rows)) - np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
    over = np.zeros(len(t), bool)
    over[rows[order[rank >= MAX_EVENTS_PER_DOMAIN]]] = True
    if strict:
        probs.add(
            over, "domain", f"more than {MAX_EVENTS_PER_DOMAIN} events for this user and domain"
        )
    else:
        probs.truncate(
            over, f"older than the {MAX_EVENTS_PER_DOMAIN} most recent of the user and domain"
        )


def check_users(t: pa.Table, probs: Problems) -> None:
    probs.add(
        ~to_numpy(pc.fill_null(pc.is_in(t.column("split"), pa.array(SPLITS)), False)),
        "split",
        f"unknown split (allowed: {', '.join(SPLITS)})",
    )
    probs.add(
        to_numpy(pc.fill_null(pc.equal(t.column("user_id"), ""), False)), "user_id", "empty user id"
    )
    probs.add(duplicates(t.column("user_id")), "user_id", "duplicate user_id")


def check_news(t: pa.Table, probs: Problems) -> None:
    probs.add(duplicates(t.column("news_id")), "news_id", "duplicate news_id")


def check_test_clicks(t: pa.Table, probs: Problems, meta: dict) -> None:
    ts = to_numpy(t.column("timestamp")).astype(np.int64)
    probs.add(
        (ts < meta["test_start"]) | (ts >= meta["test_end"]),
        "timestamp",
        "outside the test window [test_start, test_end)",
    )


def check_refs(probs: Problems, t: pa.Table, col: str, ref: pa.Array, what: str) -> None:
    """Rows whose `col` value is not among `ref` (nulls are ignored)."""
    v = t.column(col)
    bad = to_numpy(pc.fill_null(pc.invert(pc.is_in(v, ref)), False)) & ~to_numpy(pc.is_null(v))
    probs.add(bad, col, f"unknown {what}", lambda r: repr(v[r].as_py()))


def check_cold_flags(users: pa.Table, events: pa.Table, meta: dict, file, strict: bool):
    """users.cold must say "fewer than cold_max_clicks training clicks" (docs/data.md). Returns
    the users table with the derived flag and the number of rows whose file flag disagreed;
    strict=True raises on the first disagreement instead."""
    limit = int(meta.get("cold_max_clicks", meta.get("config", {}).get("cold_max_clicks", 5)))
    clicks = events.filter(pc.equal(events.column("domain"), "click")).column("user_id")
    counts = pc.value_counts(clicks)
    ids, n = counts.field("values"), np.append(to_numpy(counts.field("counts")), 0)
    idx = to_numpy(pc.fill_null(pc.index_in(users.column("user_id"), ids), -1)).astype(np.int64)
    per_user = n[idx]  # index -1 (no clicks) reads the appended 0
    derived = per_user < limit
    given = to_numpy(users.column("cold")).astype(bool)
    bad = np.flatnonzero(derived != given)
    if len(bad) and strict:
        r = int(bad[0])
        raise SchemaError(
            file,
            r,
            "cold",
            f"flag {bool(given[r])} disagrees with the training clicks: user "
            f"{users.column('user_id')[r].as_py()!r} has {int(per_user[r])} clicks "
            f"(cold means fewer than {limit}); {len(bad)} users disagree",
        )
    fixed = users.set_column(
        users.column_names.index("cold"), "cold", pa.array(derived, pa.bool_())
    )
    return fixed, len(bad), bad[:1]


def check_users_have_events(users: pa.Table, probs: Problems, event_users: pa.Array) -> None:
    bad = ~to_numpy(pc.is_in(users.column("user_id"), event_users))
    probs.add(bad, "user_id", "user has no events (empty user)")


def check_fresh(t: pa.Table, probs: Problems, news: pa.Table, meta: dict) -> None:
    """Test clicks must be on articles published inside the test week (fresh items)."""
    idx = to_numpy(pc.index_in(t.column("news_id"), news.column("news_id")))
    ok = ~np.isnan(idx.astype(np.float64))
    pub = to_numpy(news.column("published")).astype(np.int64)
    p = np.where(ok, pub[np.nan_to_num(idx.astype(np.float64), nan=0).astype(np.int64)], 0)
    bad = ok & ((p < meta["test_start"]) | (p >= meta["test_end"]))
    probs.add(bad, "news_id", "article not published in the test week")
