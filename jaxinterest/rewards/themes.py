"""A user's major interest themes: average-linkage clustering of behaviour embeddings.

For unit vectors, the mean pairwise cosine similarity between clusters A and B (average
linkage) is (S_A . S_B) / (w_A w_B), with S the weighted sum of a cluster's vectors and w its
weight. So clustering keeps only the Gram matrix of the sums: merging A and B adds their rows
and columns, O(n) per merge, O(n^2 D + n^3) per user (n <= 150 distinct texts). Identical texts
are one point weighted by their count. The result is deterministic (ties go to the lowest
index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Themes:
    """T major themes of one user (T may be 0).

    centroids [T, D] float32 unit vectors (direction of each theme's summed embeddings);
    weights [T] float32, share of the user's behaviours in each theme (heaviest first);
    labels: [T] the theme member closest to its centroid (for logs and reports).
    """

    centroids: np.ndarray
    weights: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def cluster(vecs: np.ndarray, weights: np.ndarray, merge: float) -> np.ndarray:
    """Average-linkage clusters of unit rows vecs [n, D] with weights [n]: int labels [n]
    (0..C-1, in order of first member). Merging stops when no pair of clusters has mean
    pairwise cosine similarity >= merge."""
    n = len(vecs)
    if n == 0:
        return np.zeros(0, np.int64)
    w = np.asarray(weights, np.float64).copy()
    s = vecs.astype(np.float64) * w[:, None]
    gram = s @ s.T  # [n, n] S_a . S_b
    alive = np.ones(n, bool)
    owner = np.arange(n)
    while alive.sum() > 1:
        idx = np.flatnonzero(alive)
        link = gram[np.ix_(idx, idx)] / np.outer(w[idx], w[idx])
        np.fill_diagonal(link, -np.inf)
        flat = int(np.argmax(link))
        a, b = divmod(flat, len(idx))
        if link[a, b] < merge:
            break
        a, b = idx[min(a, b)], idx[max(a, b)]
        gram[a, :] += gram[b, :]
        gram[:, a] += gram[:, b]  # gram[a, a] now = S_a.S_a + 2 S_a.S_b + S_b.S_b
        w[a] += w[b]
        alive[b] = False
        owner[owner == b] = a
    _, labels = np.unique(owner, return_inverse=True)
    first = {}
    for lab in labels:  # renumber by first member so the labels do not depend on np.unique
        first.setdefault(int(lab), len(first))
    return np.array([first[int(lab)] for lab in labels], np.int64)


def major_themes(
    vecs: np.ndarray,
    texts: list[str],
    counts: np.ndarray,
    merge: float,
    min_share: float,
    min_events: int,
    max_themes: int,
) -> Themes:
    """Themes from distinct behaviour texts (vecs [n, D] unit rows, counts [n] events each).

    A cluster is a major theme when it holds >= min_share of the events and >= min_events
    events; the heaviest max_themes are kept. If no cluster qualifies but the user has events,
    the heaviest cluster is the one theme (a user always has >= 1 theme when they have events).
    """
    dim = vecs.shape[1] if vecs.ndim == 2 else 0
    if len(texts) == 0:
        return Themes(np.zeros((0, dim), np.float32), np.zeros(0, np.float32), ())
    counts = np.asarray(counts, np.float64)
    labels = cluster(vecs, counts, merge)
    n_c = int(labels.max()) + 1
    mass = np.bincount(labels, weights=counts, minlength=n_c)
    share = mass / mass.sum()
    order = sorted(range(n_c), key=lambda c: (-mass[c], c))
    keep = [c for c in order if share[c] >= min_share and mass[c] >= min_events][:max_themes]
    keep = keep or order[:1]
    cents, labs = [], []
    for c in keep:
        members = np.flatnonzero(labels == c)
        total = (vecs[members] * counts[members, None]).sum(axis=0)
        cent = total / max(float(np.linalg.norm(total)), 1e-12)
        cents.append(cent)
        labs.append(texts[int(members[np.argmax(vecs[members] @ cent)])])
    return Themes(
        np.asarray(cents, np.float32).reshape(len(keep), dim),
        share[keep].astype(np.float32),
        tuple(labs),
    )
