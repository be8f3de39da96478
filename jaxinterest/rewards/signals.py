"""The five signals as pure numpy functions over a batch of N query lists.

A batch's queries are flattened: query q belongs to list owner[q] in [0, N) (owner [Q] int64,
sorted or not). Every function returns float32 [N]; a list without queries gets FLOOR (0.0).

- R_align  mean over a list's queries of the mean similarity of the query's top-K retrieved
           articles (scores [Q, K] inner products of unit vectors = cosines; empty slots are
           -inf and skipped), clipped at 0.
- R_cov    fraction of the user's major themes that some query clearly targets: each query
           targets only its most similar theme, and counts if the cosine to that theme's
           centroid is >= the threshold (one query cannot cover several themes by being vague).
- R_spec   mean over queries of w_i in {0, 1} (specificity.specific or an LLM judge).
- R_div    mean pairwise cosine distance 1 - q_i.q_j over the list's pairs i < j; a list of
           one query has no pairs and gets 0 (a single query shows no diversity).
- R_struct 1.0 where the output parsed into the required format, else 0.0.
"""

from __future__ import annotations

import numpy as np

from jaxinterest.rewards.config import FLOOR


def per_list_mean(values, owner, n: int) -> np.ndarray:
    """Mean of values [Q] per owner in [0, n); FLOOR where a list has no queries."""
    owner = np.asarray(owner, np.int64)
    total = np.bincount(owner, weights=np.asarray(values, np.float64), minlength=n)
    count = np.bincount(owner, minlength=n)
    out = np.full(n, FLOOR, np.float64)
    np.divide(total, count, out=out, where=count > 0)
    return out.astype(np.float32)


def query_alignment(scores: np.ndarray) -> np.ndarray:
    """Mean similarity of each query's retrieved articles, float32 [Q], clipped at 0.
    scores [Q, K]; -inf marks an empty slot; a query that retrieved nothing gets FLOOR."""
    s = np.asarray(scores, np.float64)
    found = np.isfinite(s)
    n = found.sum(axis=1)
    total = np.where(found, s, 0.0).sum(axis=1)
    mean = np.divide(total, n, out=np.full(len(s), FLOOR), where=n > 0)
    return np.maximum(mean, FLOOR).astype(np.float32)


def alignment(scores: np.ndarray, owner, n: int) -> np.ndarray:
    """R_align [N] from per-query retrieval scores [Q, K]."""
    return per_list_mean(query_alignment(scores), owner, n)


def diversity(qvecs: np.ndarray, owner, n: int) -> np.ndarray:
    """R_div [N]: mean pairwise cosine distance of each list's query vectors (unit rows)."""
    owner = np.asarray(owner, np.int64)
    out = np.full(n, FLOOR, np.float32)
    for r in np.unique(owner):
        v = qvecs[owner == r].astype(np.float64)
        m = len(v)
        if m < 2:
            continue
        sims = v @ v.T
        pairs = sims[np.triu_indices(m, 1)]
        out[r] = float(np.mean(1.0 - pairs))
    return out


def theme_coverage(qv: np.ndarray, centroids: np.ndarray, threshold: float) -> np.ndarray:
    """covered [T] bool for one list: queries qv [m, D], theme centroids [T, D] (unit rows)."""
    t = len(centroids)
    covered = np.zeros(t, bool)
    if t == 0 or len(qv) == 0:
        return covered
    sims = qv.astype(np.float64) @ centroids.astype(np.float64).T  # [m, T]
    best = np.argmax(sims, axis=1)
    hit = sims[np.arange(len(qv)), best] >= threshold
    covered[best[hit]] = True
    return covered


def coverage(qvecs: np.ndarray, owner, centroids: list[np.ndarray], threshold: float):
    """R_cov [N]; centroids[r] [T_r, D] are the themes of list r's user (T_r = 0 -> FLOOR)."""
    owner = np.asarray(owner, np.int64)
    n = len(centroids)
    out = np.full(n, FLOOR, np.float32)
    for r in range(n):
        if len(centroids[r]):
            out[r] = theme_coverage(qvecs[owner == r], centroids[r], threshold).mean()
    return out


def specificity(w: np.ndarray, owner, n: int) -> np.ndarray:
    """R_spec [N] from per-query 0/1 judgements w [Q]."""
    return per_list_mean(w, owner, n)


def structure(valid) -> np.ndarray:
    """R_struct [N]: 1.0 for outputs in the required format."""
    return np.asarray(valid, bool).astype(np.float32)
