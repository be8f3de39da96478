"""Ward hierarchical clustering (the agglomerative linkage scipy calls method="ward").

Ward merges, at every step, the two clusters whose union increases the within-cluster sum of
squares least. With Euclidean input distances the merge height of clusters u and v is

    d(u, v) = sqrt(2 |u| |v| / (|u| + |v|)) * ||mean(u) - mean(v)||,

kept up to date by the Lance-Williams recurrence (cluster s+t merged, any other cluster v):

    d(v, s+t)^2 = ((|v|+|s|) d(v,s)^2 + (|v|+|t|) d(v,t)^2 - |v| d(s,t)^2) / (|v|+|s|+|t|).

Ward is a reducible linkage, so merging the globally closest pair at each step gives the same
dendrogram as scipy's nearest-neighbour chain; the output uses scipy's linkage-matrix layout.
The per-user point counts here are small (<= 150), so the O(n^3) vectorised loop is cheap.
"""

from __future__ import annotations

import numpy as np


def ward_linkage(x: np.ndarray) -> np.ndarray:
    """Linkage matrix float64 [n - 1, 4] of points x [n, D]: rows (a, b, height, size) in merge
    order, a < b, cluster n + i being the one formed at row i (scipy's layout)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 1:
        raise ValueError(f"ward_linkage needs points [n >= 1, D], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("ward_linkage: points contain NaN or inf")
    n = len(x)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)  # squared distances
    np.fill_diagonal(d2, np.inf)
    size = np.ones(n)
    label = np.arange(n)  # cluster id held in each active slot
    active = np.ones(n, bool)
    out = np.zeros((max(n - 1, 0), 4))
    for step in range(n - 1):
        i, j = np.unravel_index(np.argmin(d2), d2.shape)
        i, j = min(i, j), max(i, j)
        h2 = d2[i, j]
        ns, nt, nv = size[i], size[j], size
        merged = ((nv + ns) * d2[i] + (nv + nt) * d2[j] - nv * h2) / (nv + ns + nt)
        a, b = sorted((label[i], label[j]))
        out[step] = (a, b, np.sqrt(max(h2, 0.0)), ns + nt)
        # slot i holds the new cluster, slot j retires
        active[j] = False
        merged[~active] = np.inf
        merged[i] = np.inf
        d2[i, :] = merged
        d2[:, i] = merged
        d2[j, :] = np.inf
        d2[:, j] = np.inf
        size[i] = ns + nt
        label[i] = n + step
    return out


def cut(z: np.ndarray, n: int, *, threshold: float | None = None, max_clusters: int | None = None):
    """Flat cluster labels int [n] (0..C-1, in order of first member) from a linkage matrix.

    Merges are applied in order while their height is <= threshold, and beyond it while more
    than max_clusters clusters remain: threshold alone equals scipy's
    fcluster(z, threshold, "distance"), max_clusters alone fcluster(z, m, "maxclust").
    """
    if threshold is None and max_clusters is None:
        raise ValueError("cut needs a threshold, max_clusters or both")
    parent = np.arange(2 * n - 1)

    def root(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    clusters = n
    for step, (a, b, h, _) in enumerate(z):
        over = max_clusters is not None and clusters > max_clusters
        if not over and (threshold is None or h > threshold):
            break
        parent[root(int(a))] = n + step
        parent[root(int(b))] = n + step
        clusters -= 1
    roots = [root(i) for i in range(n)]
    first: dict[int, int] = {}
    return np.array([first.setdefault(r, len(first)) for r in roots], np.int64)


def medoids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int [C] index of each cluster's medoid: the member with the least summed squared
    distance to the cluster's other members (ties: the earliest point)."""
    out = []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        pts = x[idx]
        cost = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1).sum(1)
        out.append(idx[int(np.argmin(cost))])
    return np.array(out, np.int64)
