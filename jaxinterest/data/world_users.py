"""Users: latent interests (long-lived, fading, emerging), activity levels and cold users.

Everything here is per user ([U] or [U, K] arrays) and cheap; events are drawn per chunk of
users in `world_events.py`. Interest kinds: "stable" spans the training month and the test week,
"fading" stops during training (drift away), "emerging" starts late in training and continues
into the test week (drift towards), so recency matters for predicting test clicks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from jaxinterest.data.entities import HOME_RATE, Space, sample_within, with_home, within_groups

K_MAX = 6
KINDS = ("stable", "fading", "emerging")
DAY = 86400


@dataclass(frozen=True)
class Users:
    """U users sorted by id. Interest arrays are [U, K_MAX]; unused slots have weight 0."""

    ids: list[str]
    sub: np.ndarray  # int32
    entity: np.ndarray  # int32, -1 = topic-only interest
    weight: np.ndarray  # float64, rows sum to 1 (drives test-week clicks)
    dom_weight: np.ndarray  # [U, K_MAX, 3] float64 per-domain visibility (search, browse, click)
    kind: np.ndarray  # int8 index into KINDS
    t0: np.ndarray  # int64 first active second
    t1: np.ndarray  # int64 last active second
    cold: np.ndarray  # bool, generated cold (few clicks by construction)
    raw_counts: np.ndarray  # [U, 3] int64 raw events per domain (search, browse, click)


def _ids(n: int, rng: np.random.Generator) -> list[str]:
    while True:
        raw = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
        if len(np.unique(raw)) == n:
            break
    return sorted(f"u_{int(x):016x}" for x in raw)


def _calibrate(z: np.ndarray, sigma: float, target: float, cap: int, scale: np.ndarray) -> float:
    """mu such that mean(min(floor(scale * exp(mu + sigma z)), cap)) == target (bisection)."""
    lo, hi = -5.0, 12.0
    for _ in range(60):
        mu = 0.5 * (lo + hi)
        m = np.minimum(np.floor(scale * np.exp(mu + sigma * z)), cap).mean()
        lo, hi = (mu, hi) if m < target else (lo, mu)
    return 0.5 * (lo + hi)


def make_users(space: Space, cfg, start: int, train_end: int, test_end: int) -> Users:
    """cfg: WorldConfig. Interests, drift windows and calibrated raw counts for all users."""
    rng = np.random.default_rng([cfg.seed, 505])
    u = cfg.n_users
    ids = _ids(u, rng)
    n_int = rng.integers(cfg.min_interests, K_MAX + 1, size=u)
    used = np.arange(K_MAX)[None, :] < n_int[:, None]
    cat = rng.choice(space.n_categories, size=(u, K_MAX), p=space.category_pop)
    # users cluster: later interests often share the first interest's category
    same = rng.random((u, K_MAX)) < 0.3
    cat = np.where(same, cat[:, :1], cat)
    sub = sample_within(cat.ravel(), space.sub_pop, space.sub_category, rng.random(u * K_MAX))
    # People follow the long tail too: interest entities are drawn from a flatter popularity
    # than the news volume (power < 1), so many interests have a handful of articles a week.
    ent_pop = within_groups(space.entity_pop**cfg.interest_pop_power, space.entity_category)
    ent = sample_within(cat.ravel(), ent_pop, space.entity_category, rng.random(u * K_MAX))
    ent = np.where(rng.random(u * K_MAX) < cfg.topic_only_rate, -1, ent)
    sub = with_home(space, sub, ent, HOME_RATE, rng.random(u * K_MAX))
    weight = rng.dirichlet(np.ones(K_MAX), size=u) * used
    weight /= weight.sum(1, keepdims=True)
    # Cross-domain: an interest shows more in some domains than others (one user reads about a
    # team but never searches it), so no single domain tells the whole story.
    dom_weight = weight[:, :, None] * rng.gamma(cfg.domain_shape, size=(u, K_MAX, 3))
    # Search-blind interests: read about and browsed, never searched. Every user keeps at least
    # one searched interest so the search domain has a source: their lightest one, since people
    # search for what their feed does not already bring them.
    blind = used & (rng.random((u, K_MAX)) < cfg.search_blind_rate)
    blind[np.arange(u), np.argmin(np.where(used, weight, np.inf), 1)] = False
    dom_weight[:, :, 0] *= ~blind
    dom_weight /= dom_weight.sum(1, keepdims=True)
    r = rng.random((u, K_MAX))
    kind = np.where(r < 1 - cfg.drift, 0, np.where(r < 1 - cfg.drift / 2, 1, 2)).astype(np.int8)
    kind[:, 0] = 0  # every user keeps one long-lived interest
    span = train_end - start
    t0 = np.where(kind == 2, train_end - rng.uniform(3, 12, (u, K_MAX)) * DAY, start)
    t1 = np.where(kind == 1, start + rng.uniform(0.2, 0.8, (u, K_MAX)) * span, test_end)
    cold = rng.random(u) < cfg.cold_fraction
    # activity: one user factor shared by the three domains plus a domain factor
    zu = rng.standard_normal(u)
    zd = 0.6 * zu[:, None] + 0.8 * rng.standard_normal((u, 3))
    counts = np.zeros((u, 3), np.int64)
    targets = (cfg.mean_search, cfg.mean_browse, cfg.mean_clicks)
    cold_boost = np.where(cold, 1.5, 1.0)  # cold users search and browse more
    for d in range(2):
        mu = _calibrate(zd[:, d], cfg.count_sigma, targets[d], cfg.max_per_domain, cold_boost)
        counts[:, d] = np.floor(cold_boost * np.exp(mu + cfg.count_sigma * zd[:, d]))
    cold_clicks = rng.poisson(cfg.cold_click_mean, size=u)
    warm = ~cold
    # warm users carry the click mean: target*U = sum_warm min(raw,50) + sum_cold min(cold,50)
    rest = targets[2] * u - np.minimum(cold_clicks[cold], cfg.max_per_domain).sum()
    mu = _calibrate(
        zd[warm, 2],
        cfg.count_sigma,
        rest / max(warm.sum(), 1),
        cfg.max_per_domain,
        np.ones(warm.sum()),
    )
    counts[:, 2] = np.where(
        cold, cold_clicks, np.floor(np.exp(mu + cfg.count_sigma * zd[:, 2])).astype(np.int64)
    )
    return Users(
        ids,
        sub.reshape(u, K_MAX).astype(np.int32),
        ent.reshape(u, K_MAX).astype(np.int32),
        weight,
        dom_weight,
        kind,
        t0.astype(np.int64),
        t1.astype(np.int64),
        cold,
        counts,
    )


def interests_table(users: Users, space: Space) -> pa.Table:
    """oracle/interests.parquet: one row per used interest slot (never an input to models)."""
    uu, kk = np.nonzero(users.weight > 0)
    sub, ent = users.sub[uu, kk], users.entity[uu, kk]
    names = pa.array(space.entity_names, pa.string())
    return pa.table(
        {
            "user_id": pa.array(users.ids, pa.string()).take(pa.array(uu)),
            "slot": pa.array(kk, pa.int8()),
            "category": pa.array(space.category_names, pa.string()).take(
                pa.array(space.sub_category[sub])
            ),
            "subtopic": pa.array(space.sub_phrase, pa.string()).take(pa.array(sub)),
            "entity": names.take(pa.array(np.maximum(ent, 0), mask=ent < 0)),
            "weight": pa.array(users.weight[uu, kk], pa.float32()),
            **{
                f"weight_{d}": pa.array(users.dom_weight[uu, kk, i], pa.float32())
                for i, d in enumerate(("search", "browse", "click"))
            },
            "kind": pa.array(KINDS, pa.string()).take(pa.array(users.kind[uu, kk])),
            "start": pa.array(users.t0[uu, kk], pa.int64()),
            "end": pa.array(users.t1[uu, kk], pa.int64()),
        }
    )
