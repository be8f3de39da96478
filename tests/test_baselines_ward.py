"""Ward clustering against scipy's, and PinSage's cluster -> query selection."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from jaxinterest.baselines.pinsage import PinSageConfig, cluster_queries
from jaxinterest.baselines.ward import cut, medoids, ward_linkage


def partition(labels):
    return {frozenset(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)}


@pytest.mark.parametrize("seed", range(12))
def test_linkage_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    x = rng.normal(size=(n, int(rng.integers(2, 20))))
    if seed % 3 == 0:  # unit rows, as PinSage clusters them
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    z, want = ward_linkage(x), linkage(x, method="ward")
    np.testing.assert_allclose(z, want, rtol=1e-9, atol=1e-9)
    h = want[:, 2]
    for k in {0, len(h) // 2, len(h) - 2} - {-1}:  # between two heights: no float ties
        t = (h[k] + h[min(k + 1, len(h) - 1)]) / 2
        assert partition(cut(z, n, threshold=t)) == partition(fcluster(want, t, "distance"))
    for m in (1, 2, 5):
        assert partition(cut(z, n, max_clusters=m)) == partition(fcluster(want, m, "maxclust"))


def test_linkage_edge_cases():
    assert ward_linkage(np.zeros((1, 3))).shape == (0, 4)
    np.testing.assert_allclose(ward_linkage(np.array([[0.0, 0.0], [3.0, 4.0]])), [[0, 1, 5, 2]])
    with pytest.raises(ValueError, match="NaN"):
        ward_linkage(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="threshold"):
        cut(np.zeros((0, 4)), 1)


def test_cut_threshold_then_cap():
    """Both limits: merge below the threshold, then keep merging down to max_clusters."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.01, size=(5, 2)) for c in (0, 10, 20, 30)])
    z = ward_linkage(x)
    assert len(np.unique(cut(z, 20, threshold=1.0))) == 4
    assert len(np.unique(cut(z, 20, threshold=1.0, max_clusters=2))) == 2


def test_medoids_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(15, 3))
    labels = rng.integers(0, 4, size=15)
    labels = np.unique(labels, return_inverse=True)[1]
    for c, m in enumerate(medoids(x, labels)):
        idx = np.flatnonzero(labels == c)
        costs = [sum(((x[i] - x[j]) ** 2).sum() for j in idx) for i in idx]
        assert m == idx[int(np.argmin(costs))]


def test_cluster_queries_rank_clusters_by_recency_weighted_size():
    """Three tight clusters: a big old one, a small recent one, a tiny old one. With strong
    decay the recent cluster's medoid comes first; without decay the big one does."""
    rng = np.random.default_rng(2)
    centres = np.eye(4)[:3]
    sizes, ages = (6, 3, 1), (25.0, 0.5, 30.0)
    vec = np.concatenate(
        [c + rng.normal(0, 0.01, size=(n, 4)) for c, n in zip(centres, sizes, strict=True)]
    )
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    days = np.concatenate([np.full(n, a) for n, a in zip(sizes, ages, strict=True)])
    cfg = PinSageConfig(threshold=0.5, max_clusters=8, n_queries=2, decay_per_day=0.5)
    q = cluster_queries(vec, days, cfg)
    assert q.shape == (2, 4)
    assert np.argmax(q[0]) == 1 and np.argmax(q[1]) == 0
    q = cluster_queries(vec, days, PinSageConfig(threshold=0.5, n_queries=3, decay_per_day=0.0))
    assert [int(np.argmax(r)) for r in q] == [0, 1, 2]
    assert any(np.array_equal(q[0], v) for v in vec)  # medoids are real interactions
