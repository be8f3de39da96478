"""Ranking metrics over users: Recall@K, NDCG@K and MRR with binary relevance.

Inputs are one ranked list of article ids per user (best first) and one set of held-out clicked
ids per user. The computation is vectorised: every (user, position, id) triple of the ranked
lists becomes one row of flat arrays, ids become integer codes, and hits are found with one
`np.isin` over (user, code) keys, so no Python loop runs over list positions.

Policies (each one is counted in the returned dict, nothing is dropped silently):
- Duplicate ids inside one ranked list: only the first occurrence counts; later ones are
  removed before ranks are assigned (an id cannot be recommended twice) and counted in
  `n_duplicates_removed`.
- Users whose relevant set is empty are excluded from every average and counted in
  `n_excluded_no_relevant` (their recall is undefined).
- Empty ranked lists are allowed: that user scores 0 on every metric.
- If no user is left to evaluate, every metric is NaN (callers writing JSON turn it into null).

Definitions (rank r is 1-based; rel is the user's relevant set):
    Recall@K = |top-K ∩ rel| / |rel|
    NDCG@K   = sum_{r<=K, hit} 1/log2(r+1)  /  sum_{r=1}^{min(|rel|,K)} 1/log2(r+1)
    MRR      = 1 / rank of the first relevant id in the whole list (0 if none)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_KS = (5, 10)


def _flatten(ranked: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the ranked lists. Returns (user index [M], id [M]) in list order."""
    lengths = np.fromiter((len(r) for r in ranked), dtype=np.int64, count=len(ranked))
    users = np.repeat(np.arange(len(ranked), dtype=np.int64), lengths)
    ids = np.array([str(x) for r in ranked for x in r], dtype=object)
    return users, ids


def _check_inputs(ranked, relevant, ks) -> tuple[int, ...]:
    if isinstance(ranked, (str, bytes)) or isinstance(relevant, (str, bytes)):
        raise TypeError("ranked and relevant must be sequences of per-user collections, not str")
    if len(ranked) != len(relevant):
        raise ValueError(
            f"ranked has {len(ranked)} users but relevant has {len(relevant)}; "
            "they must be aligned one entry per user"
        )
    for i, r in enumerate(ranked):
        if isinstance(r, (str, bytes)):
            raise TypeError(f"ranked[{i}] is a str; expected a list of ids")
    for i, r in enumerate(relevant):
        if isinstance(r, (str, bytes)):
            raise TypeError(f"relevant[{i}] is a str; expected a set of ids")
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive cut-offs, got {ks}")
    return ks


def per_user_metrics(
    ranked: Sequence[Sequence[str]],
    relevant: Sequence[Iterable[str]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, np.ndarray]:
    """Per-user metric arrays, each float64 [U], plus `n_relevant` int64 [U] and
    `n_duplicates` int64 [U]. Users with no relevant item get NaN metrics (not yet excluded).
    """
    ks = _check_inputs(ranked, relevant, ks)
    n_users = len(ranked)
    rel_sets = [set(map(str, r)) for r in relevant]
    n_rel = np.fromiter((len(s) for s in rel_sets), dtype=np.int64, count=n_users)

    users, ids = _flatten(ranked)
    rel_users = np.repeat(np.arange(n_users, dtype=np.int64), n_rel)
    rel_ids = np.array([x for s in rel_sets for x in s], dtype=object)

    # One code space for ranked and relevant ids, so (user, code) pairs are comparable ints.
    vocab, codes = np.unique(np.concatenate([ids, rel_ids]).astype(str), return_inverse=True)
    n_codes = max(len(vocab), 1)
    keys = users * n_codes + codes[: len(ids)]
    rel_keys = rel_users * n_codes + codes[len(ids) :]

    # Keep the first occurrence of each (user, id): np.unique gives first indices.
    _, first = np.unique(keys, return_index=True)
    keep = np.zeros(len(keys), dtype=bool)
    keep[first] = True
    n_dup = np.bincount(users[~keep], minlength=n_users).astype(np.int64)
    users, keys = users[keep], keys[keep]

    # 0-based rank inside each user's deduplicated list (users are contiguous and ordered).
    starts = np.searchsorted(users, np.arange(n_users))
    rank = np.arange(len(users)) - starts[users]
    hit = np.isin(keys, rel_keys)
    hit_users, hit_rank = users[hit], rank[hit]

    out: dict[str, np.ndarray] = {}
    safe_rel = np.maximum(n_rel, 1)
    discount = 1.0 / np.log2(hit_rank + 2.0)
    for k in ks:
        in_k = hit_rank < k
        hits_k = np.bincount(hit_users[in_k], minlength=n_users)
        dcg = np.bincount(hit_users[in_k], weights=discount[in_k], minlength=n_users)
        # Ideal DCG: all min(|rel|, K) top slots are hits; cumsum table indexed by that count.
        ideal_table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
        idcg = ideal_table[np.minimum(n_rel, k)]
        out[f"recall@{k}"] = hits_k / safe_rel
        out[f"ndcg@{k}"] = dcg / np.where(idcg > 0, idcg, 1.0)
    first_hit = np.full(n_users, np.inf)
    np.minimum.at(first_hit, hit_users, hit_rank.astype(np.float64))
    out["mrr"] = np.where(np.isfinite(first_hit), 1.0 / (first_hit + 1.0), 0.0)

    no_rel = n_rel == 0
    for name in list(out):
        out[name] = np.where(no_rel, np.nan, out[name]).astype(np.float64)
    out["n_relevant"] = n_rel
    out["n_duplicates"] = n_dup
    return out


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """Metric keys in report order: recall@k for each k, ndcg@k for each k, then mrr."""
    return [f"recall@{k}" for k in ks] + [f"ndcg@{k}" for k in ks] + ["mrr"]


def ranking_metrics(
    ranked: Sequence[Sequence[str]],
    relevant: Sequence[Iterable[str]],
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float | int]:
    """Average Recall@K, NDCG@K and MRR over users that have at least one relevant item.

    ranked: U lists of ids (best first); relevant: U collections of held-out clicked ids.
    Returns metric floats plus `n_users` (evaluated), `n_excluded_no_relevant` and
    `n_duplicates_removed` (see the module docstring for each policy).
    """
    per_user = per_user_metrics(ranked, relevant, ks)
    evaluated = per_user["n_relevant"] > 0
    n_eval = int(evaluated.sum())
    out: dict[str, float | int] = {}
    for name in metric_names(tuple(int(k) for k in ks)):
        out[name] = float(per_user[name][evaluated].mean()) if n_eval else float("nan")
    out["n_users"] = n_eval
    out["n_excluded_no_relevant"] = int((~evaluated).sum())
    out["n_duplicates_removed"] = int(per_user["n_duplicates"].sum())
    return out
