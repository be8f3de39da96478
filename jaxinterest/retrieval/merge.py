"""Merge one user's per-query result lists into a single ranked list.

Methods (all drop MISSING_ID / -inf slots, duplicates and the user's already-seen articles):
- "score_fusion" (default): each article scored by the SUM of its similarities over the queries
  that retrieved it (CombSUM), sorted descending; articles several queries agree on rise.
- "score_max": each article scored by its best similarity over the queries (CombMAX).
- "round_robin": rank 1 of query 1, rank 1 of query 2, ..., then rank 2 of each query, ...
  Every query gets a slot before any query gets a second.
Ties keep round-robin order, so every method is deterministic.

Why the default: measured with `bench/retrieval.py --merge-world DIR` on the `small` world
(seed 0; 4,000 users, 5,666 test-week articles, exact index, K = 10 per query and merged),
with two query sources that use no oracle data (each user's 10 most recent search queries, and
the titles of their 10 most recent clicks). Recall@10 / NDCG@10 / MRR over all users:

    queries         round_robin            score_max              score_fusion (sum)
    own searches    .077 / .066 / .131     .086 / .074 / .141     .119 / .105 / .196
    click titles    .062 / .051 / .098     .050 / .040 / .074     .090 / .080 / .153

CombSUM wins on both sources and every metric (cold users: equal or better), so it is the
default. Round robin spends a slot on every query's first hit even when that query is off-topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from jaxinterest.retrieval.index import MISSING_ID, NewsIndex
from jaxinterest.retrieval.search import retrieve

METHODS = ("score_fusion", "score_max", "round_robin")
DEFAULT_METHOD = "score_fusion"


def _candidates(ids, scores, exclude) -> list[tuple[str, float, int]]:
    """(id, score, query) for every usable slot, in round-robin order (rank-major)."""
    ids = np.asarray(ids, dtype=object)
    scores = np.asarray(scores, dtype=np.float64)
    if ids.ndim != 2 or ids.shape != scores.shape:
        raise ValueError(
            f"per-query ids and scores must both be [Q, k]; got {ids.shape} and {scores.shape}"
        )
    out = []
    for r in range(ids.shape[1]):
        for q in range(ids.shape[0]):
            a, s = ids[q, r], scores[q, r]
            if a == MISSING_ID or a is None or not np.isfinite(s) or a in exclude:
                continue
            out.append((a, float(s), q))
    return out


def merge(
    per_query_ids,
    per_query_scores,
    k: int,
    method: str = DEFAULT_METHOD,
    exclude: Iterable[str] = (),
) -> list[str]:
    """One ranked list of at most k distinct news ids for one user.

    per_query_ids, per_query_scores: [Q, k'] as returned by `retrieve` for the user's Q queries
    (query order matters for round robin). exclude: ids the user has already seen. Fewer than k
    ids come back when the queries found fewer usable articles.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    exclude = exclude if isinstance(exclude, set | frozenset) else set(exclude)
    cands = _candidates(per_query_ids, per_query_scores, exclude)
    if method == "round_robin":
        out: list[str] = []
        taken: set[str] = set()
        for a, _, _ in cands:
            if a not in taken:
                taken.add(a)
                out.append(a)
                if len(out) == k:
                    break
        return out
    fused: dict[str, float] = {}  # dicts keep first-insertion (round-robin) order for ties
    for a, s, _ in cands:
        if method == "score_max":
            fused[a] = max(fused.get(a, -np.inf), s)
        else:
            fused[a] = fused.get(a, 0.0) + s
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])  # stable: ties keep round-robin order
    return [a for a, _ in ranked[:k]]


def merge_users(
    ids_per_user: Sequence,
    scores_per_user: Sequence,
    k: int,
    method: str = DEFAULT_METHOD,
    exclude_per_user: Sequence[Iterable[str]] | None = None,
) -> list[list[str]]:
    """`merge` for each user; list i belongs to user i."""
    if len(ids_per_user) != len(scores_per_user):
        raise ValueError(f"{len(ids_per_user)} users' ids but {len(scores_per_user)} users' scores")
    if exclude_per_user is not None and len(exclude_per_user) != len(ids_per_user):
        raise ValueError(f"{len(exclude_per_user)} exclude sets for {len(ids_per_user)} users")
    return [
        merge(ids, sc, k, method, exclude_per_user[u] if exclude_per_user is not None else ())
        for u, (ids, sc) in enumerate(zip(ids_per_user, scores_per_user, strict=True))
    ]


def retrieve_merged(
    index: NewsIndex,
    queries_per_user: Sequence[Sequence[str]],
    k: int,
    *,
    per_query_k: int | None = None,
    method: str = DEFAULT_METHOD,
    exclude_per_user: Sequence[Iterable[str]] | None = None,
    model=None,
) -> list[list[str]]:
    """Queries of many users -> one merged top-k list per user.

    All users' queries are embedded and searched in one batch (per_query_k results each, default
    k), then split back per user and merged. A user with no queries gets an empty list.
    """
    for u, qs in enumerate(queries_per_user):
        if isinstance(qs, str):
            raise TypeError(f"queries_per_user[{u}] is a str; expected a list of query strings")
    flat = [q for qs in queries_per_user for q in qs]
    ids, scores = retrieve(index, flat, per_query_k or k, model=model)
    bounds = np.cumsum([0] + [len(qs) for qs in queries_per_user])
    return merge_users(
        [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        k,
        method,
        exclude_per_user,
    )
