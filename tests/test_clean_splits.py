"""Held-out splits and the keep threshold: the edges a mutation run found untested."""

import dataclasses

import numpy as np
import pytest

from jaxinterest.clean import CompareConfig, Contender, fit_with_threshold, group_split
from jaxinterest.clean.compare import choose_threshold
from jaxinterest.clean.events import precision_recall_f1


def test_a_score_equal_to_the_threshold_is_kept():
    """keep iff p >= t: with 0.5 a score itself, the row at 0.5 must count as kept for 0.5 to
    reach noise F1 1 (with p > t, 0.5 would lose to the midpoint 0.4)."""
    p, y = np.array([0.3, 0.5, 0.9]), np.array([0, 1, 1])
    t = choose_threshold(p, y)
    assert t == 0.5
    assert precision_recall_f1(y, (p >= t).astype(np.int8), positive=0)["f1"] == 1.0
    # The lowest score as the cut keeps everything, that row included.
    assert choose_threshold(np.array([0.7, 0.8]), np.array([1, 1])) == 0.5


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_group_split_takes_the_shortest_prefix_reaching_its_fraction(seed, fraction):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 40, 400) ** 2 % 97  # uneven group sizes
    rows = np.sort(rng.choice(400, 300, replace=False))
    split = group_split(rows, groups, fraction, seed)
    assert len(split.train) + len(split.test) == len(rows)
    assert not set(groups[split.train]) & set(groups[split.test])
    assert len(split.test) >= fraction * len(rows)
    # Shortest: dropping the biggest test group falls below the fraction.
    test_sizes = np.unique(groups[split.test], return_counts=True)[1]
    assert len(split.test) - test_sizes.max() < fraction * len(rows)


@dataclasses.dataclass(frozen=True)
class Constant:
    threshold: float = 0.5

    def predict_proba(self, texts):
        return np.full(len(texts), 0.5)


def test_the_validation_split_changes_with_the_seed():
    n = 400
    texts = np.array([f"text {i % 100}" for i in range(n)], dtype=object)
    data = {"texts": texts, "labels": np.arange(n) % 2, "groups": np.arange(n) % 100}
    seen = []

    def train_fn(kind, fit_texts, y, config, sample_weight=None):
        seen.append(frozenset(fit_texts))
        return Constant(), {}

    contender = Contender("c", "constant", fit_on="events")  # fit on every fit-part event
    for seed in (0, 0, 1, 2):
        fit_with_threshold(contender, np.arange(n), data, CompareConfig(seed=seed), train_fn)
    assert seen[0] == seen[1]  # deterministic per seed
    assert seen[0] != seen[2] and seen[0] != seen[3] and seen[2] != seen[3]
