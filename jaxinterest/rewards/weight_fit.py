"""How well each reward signal ranks one user's lists by held-out retrieval: the evidence for
the weights lambda_m of eq. 9 (`config.DEFAULT_WEIGHTS`).

Dr.GRPO's advantage is a list's reward minus its group's mean, and a group is one user's
samples; so what steers training is how a signal orders lists *within* a user, not across
users. The measure here is therefore within-user: for every user, the Pearson correlation over
their S sampled lists between a signal and the lists' Recall@10 on a held-out window, averaged
over users. Users whose recall is undefined (no held-out click, NaN) or constant over their
samples, or whose signal is constant, carry no ordering and are left out (counted).

Arrays are [U, S]: U users x S sampled lists, normalised signals as the composite reward sees
them (`combine.normalise`)."""

from __future__ import annotations

import numpy as np


def within_user_correlation(x, y) -> tuple[float, int]:
    """(mean over users of corr(x[u], y[u]), users counted); NaN when no user counts."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x {x.shape} and y {y.shape} must be the same [users, samples]")
    ok = ~np.isnan(y).any(axis=1) & (x.std(axis=1) > 0) & (y.std(axis=1) > 0)
    if not ok.any():
        return float("nan"), 0
    xc = x[ok] - x[ok].mean(axis=1, keepdims=True)
    yc = y[ok] - y[ok].mean(axis=1, keepdims=True)
    r = (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    return float(r.mean()), int(ok.sum())


def within_user_coefficients(signals: dict, y) -> dict:
    """Least-squares coefficients of y on the signals after removing each user's means (users
    with a NaN y left out): signal -> coefficient."""
    names = list(signals)
    y = np.asarray(y, np.float64)
    ok = ~np.isnan(y).any(axis=1)
    x = np.stack([np.asarray(signals[s], np.float64)[ok] for s in names], axis=-1)
    x = x - x.mean(axis=1, keepdims=True)
    yc = y[ok] - y[ok].mean(axis=1, keepdims=True)
    coef, *_ = np.linalg.lstsq(x.reshape(-1, len(names)), yc.reshape(-1), rcond=None)
    return {s: float(c) for s, c in zip(names, coef, strict=True)}


def weight_report(signals: dict, recall, candidates: dict) -> dict:
    """{"signals": {name: {"mean", "within_user_corr", "users"}}, "coefficients": {...},
    "composites": {label: {"weights", "within_user_corr"}}} for candidate weight dicts
    (label -> {signal: lambda}; a signal a candidate leaves out weighs 0)."""
    out = {"signals": {}, "coefficients": within_user_coefficients(signals, recall)}
    for s, x in signals.items():
        r, n = within_user_correlation(x, recall)
        out["signals"][s] = {"mean": float(np.mean(x)), "within_user_corr": r, "users": n}
    out["composites"] = {}
    for label, w in candidates.items():
        total = sum(float(w.get(s, 0.0)) * np.asarray(x, np.float64) for s, x in signals.items())
        out["composites"][label] = {
            "weights": {s: float(w.get(s, 0.0)) for s in signals},
            "within_user_corr": within_user_correlation(total, recall)[0],
        }
    return out
