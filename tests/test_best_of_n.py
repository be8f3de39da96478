"""Best-of-N estimator against brute force over every subset, the prefix variant against a plain
argmax, and the curve's shape (N = 1 is the mean sample, N = S the best; the reward curve never
falls)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jaxinterest.train import best_of_n as bon

RNG = np.random.default_rng(0)


def brute_force(values, rewards, n):
    """Mean over all C(S, n) subsets of the value of the subset's best sample (ties: the lower
    sample index), per user."""
    u, s = rewards.shape
    out = np.zeros(u)
    for i in range(u):
        picks = []
        for subset in itertools.combinations(range(s), n):
            best = max(subset, key=lambda j: (rewards[i, j], -j))
            picks.append(values[i, best])
        out[i] = np.mean(picks)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_expected_estimator_equals_brute_force(n):
    rewards = np.round(RNG.random((7, 6)), 1)  # rounded: many ties
    values = RNG.random((7, 6))
    w = bon.keep_weights(rewards, n)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose((w * values).sum(1), brute_force(values, rewards, n), rtol=1e-12)
    mean, se, k = bon.curve(values, rewards, [n])[n]
    want = brute_force(values, rewards, n)
    assert k == 7
    np.testing.assert_allclose(mean, want.mean(), rtol=1e-12)
    np.testing.assert_allclose(se, want.std(ddof=1) / np.sqrt(7), rtol=1e-12)


def test_prefix_method_is_argmax_of_the_first_n():
    rewards = np.round(RNG.random((5, 8)), 1)
    for n in (1, 3, 8):
        w = bon.keep_weights(rewards, n, "prefix")
        picked = [max(range(n), key=lambda j, i=i: (rewards[i, j], -j)) for i in range(5)]
        np.testing.assert_array_equal(w.argmax(1), picked)
        assert np.all(w.sum(1) == 1) and np.all(w[:, n:] == 0)


def test_curve_ends_and_monotone_reward():
    rewards = RNG.normal(size=(40, 32))
    values = RNG.random((40, 32))
    values[3] = np.nan  # a user without held-out clicks is skipped, not averaged as 0
    c = bon.curve(values, rewards)
    assert list(c) == [1, 2, 4, 8, 16, 32]
    ok = np.arange(40) != 3
    np.testing.assert_allclose(c[1][0], values[ok].mean(), rtol=1e-12)
    np.testing.assert_allclose(c[32][0], values[ok, rewards[ok].argmax(1)].mean(), rtol=1e-12)
    assert c[1][2] == 39
    r = bon.curve(rewards, rewards)
    means = [r[n][0] for n in r]
    assert all(b > a for a, b in zip(means, means[1:], strict=False))


def test_bad_input():
    with pytest.raises(ValueError, match="N=4"):
        bon.keep_weights(np.zeros((2, 3)), 4)
    with pytest.raises(ValueError, match="NaN"):
        bon.keep_weights(np.array([[0.0, np.nan]]), 1)
    with pytest.raises(ValueError, match="method"):
        bon.keep_weights(np.zeros((2, 3)), 1, "best")
    with pytest.raises(ValueError, match="shape"):
        bon.curve(np.zeros((2, 3)), np.zeros((2, 4)))
