"""Within-user agreement of reward signals with held-out recall (rewards/weight_fit.py),
against per-user formulas written here with np.corrcoef and an explicit demeaned solve."""

import numpy as np
import pytest

from jaxinterest.rewards.weight_fit import (
    weight_report,
    within_user_coefficients,
    within_user_correlation,
)


def test_correlation_is_the_mean_of_per_user_corrcoef_and_skips_undefined_users():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 6)), rng.normal(size=(7, 6))
    y[2] = np.nan  # no held-out click
    y[4] = 0.5  # constant recall: no ordering
    x[5] = 1.0  # constant signal
    want = np.mean([np.corrcoef(x[u], y[u])[0, 1] for u in (0, 1, 3, 6)])
    got, users = within_user_correlation(x, y)
    assert users == 4
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.isnan(within_user_correlation(np.ones((2, 6)), y[:2])[0])
    with pytest.raises(ValueError, match="same"):
        within_user_correlation(x, y[:, :3])


def test_user_offsets_do_not_count():
    # a signal that only moves between users has no within-user correlation with recall,
    # even when it tracks recall perfectly across users
    rng = np.random.default_rng(0)
    recall = rng.uniform(size=(5, 4))
    offset = np.repeat(np.arange(5.0)[:, None], 4, axis=1)
    r, users = within_user_correlation(offset, recall)  # no within-user spread: no user counts
    assert np.isnan(r) and users == 0
    assert within_user_correlation(recall + 10 * offset, recall)[0] == pytest.approx(1.0)


def test_coefficients_recover_a_within_user_linear_model():
    rng = np.random.default_rng(1)
    u, s = 40, 8
    a, b = rng.normal(size=(u, s)), rng.normal(size=(u, s))
    y = 0.3 * a - 0.1 * b + rng.normal(size=(u, 1)) * 5  # per-user offsets are removed
    y[0] = np.nan
    coef = within_user_coefficients({"a": a, "b": b}, y)
    # independent solve on the demeaned rows 1..u-1
    x = np.stack([a[1:], b[1:]], -1)
    x = x - x.mean(1, keepdims=True)
    yc = y[1:] - y[1:].mean(1, keepdims=True)
    want = np.linalg.solve(x.reshape(-1, 2).T @ x.reshape(-1, 2), x.reshape(-1, 2).T @ yc.ravel())
    np.testing.assert_allclose([coef["a"], coef["b"]], want, rtol=1e-9)
    np.testing.assert_allclose([coef["a"], coef["b"]], [0.3, -0.1], atol=1e-9)


def test_report_weighs_candidates():
    rng = np.random.default_rng(2)
    good, junk = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    recall = good + 0.5 * rng.normal(size=(30, 6))
    rep = weight_report({"good": good, "junk": junk}, recall,
                        {"even": {"good": 1, "junk": 1}, "good8": {"good": 8, "junk": 1},
                         "junk_only": {"junk": 1}})  # fmt: skip
    c = rep["composites"]
    assert c["good8"]["within_user_corr"] > c["even"]["within_user_corr"]
    assert c["even"]["within_user_corr"] > c["junk_only"]["within_user_corr"]
    assert c["junk_only"]["weights"] == {"good": 0.0, "junk": 1.0}
    assert rep["signals"]["good"]["within_user_corr"] > 0.7
    assert abs(rep["signals"]["junk"]["within_user_corr"]) < 0.2
