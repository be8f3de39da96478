"""Best-of-N (paper Fig. 3): per user, sample N query lists, keep the one with the highest
composite reward, score the kept list. One set of S samples per user serves every N <= S.

Estimator ("expected", the default): the expected value of the kept sample when N of the S
samples are drawn uniformly without replacement. With a user's samples ranked by reward
(ascending; ties broken towards the lower sample index, which wins), the sample of rank r
(1..S) is kept exactly when it is in the subset and the other N - 1 members rank below it:

    P(keep rank r) = C(r - 1, N - 1) / C(S, N)

so E[value of the kept sample] = sum_r P(keep rank r) * value_r. Every N uses all S samples
(less noise than one subset), N = S keeps the best sample, N = 1 is the mean sample, and for
the reward itself the curve is non-decreasing in N by construction of the estimator (the
expected maximum of more draws). "prefix" keeps the best of the first N samples instead (one
realisation, what a deployment that draws N lists does).

Per-user values are averaged over users; users whose value is NaN (no held-out click: their
recall is undefined) are left out of that average, and the standard error is
std(ddof=1) / sqrt(users) of the per-user values.
"""

from __future__ import annotations

from math import comb

import numpy as np

METHODS = ("expected", "prefix")
DEFAULT_NS = (1, 2, 4, 8, 16, 32)


def reward_ranks(rewards: np.ndarray) -> np.ndarray:
    """[U, S] int: each sample's rank (1 = lowest reward, S = the sample best-of-S keeps);
    equal rewards rank the lower sample index higher."""
    rewards = np.asarray(rewards, np.float64)
    u, s = rewards.shape
    # lexsort: last key is primary -> by reward, then by -index (lower index = higher rank)
    order = np.lexsort((-np.broadcast_to(np.arange(s), (u, s)), rewards), axis=1)
    ranks = np.empty((u, s), np.int64)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(1, s + 1), (u, s)), axis=1)
    return ranks


def keep_weights(rewards: np.ndarray, n: int, method: str = "expected") -> np.ndarray:
    """[U, S] float64: the probability that best-of-n keeps each sample (rows sum to 1)."""
    rewards = np.asarray(rewards, np.float64)
    if rewards.ndim != 2 or rewards.shape[1] < 1:
        raise ValueError(f"rewards must be [users, samples], got shape {rewards.shape}")
    if np.isnan(rewards).any():
        raise ValueError("rewards contain NaN: every sample needs a composite reward")
    s = rewards.shape[1]
    if not 1 <= n <= s:
        raise ValueError(f"N={n} needs 1 <= N <= {s} (the samples drawn per user)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "prefix":
        ranks = reward_ranks(rewards[:, :n])
        out = np.zeros(rewards.shape)
        out[:, :n] = ranks == n
        return out
    table = np.array([comb(r - 1, n - 1) for r in range(1, s + 1)], np.float64) / comb(s, n)
    return table[reward_ranks(rewards) - 1]


def curve(values: np.ndarray, rewards: np.ndarray, ns=DEFAULT_NS, method: str = "expected"):
    """{N: (mean, stderr, users counted)} of the kept sample's value.

    values: [U, S] per-sample values (a metric, or the reward itself); NaN rows (no clicks) are
    skipped; rewards: [U, S] composite rewards that choose.
    """
    values = np.asarray(values, np.float64)
    if values.shape != np.shape(rewards):
        raise ValueError(f"values {values.shape} and rewards {np.shape(rewards)} differ in shape")
    out = {}
    for n in ns:
        per_user = np.sum(keep_weights(rewards, n, method) * np.nan_to_num(values), axis=1)
        ok = ~np.isnan(values).any(axis=1)
        k = int(ok.sum())
        mean = float(per_user[ok].mean()) if k else float("nan")
        se = float(per_user[ok].std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan")
        out[int(n)] = (mean, se, k)
    return out
