"""Each reward signal, the theme clustering and the composite against values computed by hand
(or by an independent naive implementation written here) on small hand-built inputs."""

import itertools
import math

import numpy as np
import pytest

from jaxinterest.rewards import (
    RewardConfig,
    normalise,
    parse_weights,
    term_stats,
    total,
)
from jaxinterest.rewards import signals as S
from jaxinterest.rewards.specificity import content_terms, specific
from jaxinterest.rewards.themes import cluster, major_themes

INF = np.inf


def unit(*rows):
    x = np.asarray(rows, np.float64)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_alignment_by_hand():
    scores = np.array(
        [[0.9, 0.7, -INF], [0.5, 0.5, 0.2], [-INF, -INF, -INF], [-0.3, -0.1, -0.2]], np.float32
    )
    owner = [0, 0, 1, 3]
    # query means: 0.8, 0.4, nothing retrieved -> 0, negative mean -> clipped to 0
    got = S.alignment(scores, owner, 5)
    np.testing.assert_allclose(got, [(0.8 + 0.4) / 2, 0.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert got.dtype == np.float32 and got.shape == (5,)


def test_diversity_by_hand():
    v = unit([1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1], [1, 0, 0])
    owner = [0, 0, 0, 1, 1, 2]
    got = S.diversity(v, owner, 4)
    c = 1 / math.sqrt(2)
    # pairs of list 0: (e1, e2) cos 0, (e1, d) cos c, (e2, d) cos c
    want0 = ((1 - 0) + (1 - c) + (1 - c)) / 3
    np.testing.assert_allclose(got, [want0, 0.0, 0.0, 0.0], atol=1e-6)  # repeated: 0; single: 0


def test_coverage_counts_each_query_for_its_best_theme_only():
    themes = unit([1, 0, 0], [0, 1, 0], [0, 0, 1])
    q = unit([0.8, 0.6, 0.0])  # cos 0.8 to theme 0 and 0.6 to theme 1
    # threshold 0.5: theme 1 is above it too, but the query targets theme 0 only
    assert S.theme_coverage(q, themes, 0.5).tolist() == [True, False, False]
    vague = unit([1, 1, 1])  # cos 0.577 to all three
    assert S.theme_coverage(vague, themes, 0.5).sum() == 1
    lists = unit([1, 0, 0], [0, 0.1, 1], [0.7, 0.7, 0.14])
    owner = [0, 0, 1]
    got = S.coverage(lists, owner, [themes, themes, themes[:0]], 0.9)
    # list 0: theme 0 (cos 1) and theme 2 (cos 0.995) covered -> 2/3; list 1: best cos 0.70
    # < 0.9 -> 0; list 2: user without themes -> floor 0
    np.testing.assert_allclose(got, [2 / 3, 0.0, 0.0], atol=1e-6)


def test_specificity_and_structure_by_hand():
    w = np.array([1, 0, 1, 1], np.float32)
    np.testing.assert_allclose(S.specificity(w, [0, 0, 0, 2], 3), [2 / 3, 0.0, 1.0])
    assert S.structure([True, False]).tolist() == [1.0, 0.0]


def test_term_stats_and_specific_queries():
    docs = ["Alpha beta.", "alpha gamma", "alpha delta", "news alpha", "beta epsilon"]
    stats = term_stats(docs, categories=["Delta things"])
    n = len(docs)
    idf = {"beta": math.log(n / 2), "gamma": math.log(n / 1), "epsilon": math.log(n / 1)}
    assert stats.idf("beta") == pytest.approx(idf["beta"])
    assert stats.idf("alpha") == pytest.approx(math.log(n / 4))
    assert stats.idf("unseen") == 0.0
    # "news" is a generic term, "delta" a category word, "zzz" unseen, "the" a stop word
    assert content_terms("The news about Delta beta BETA zzz gamma", stats, 1) == ["beta", "gamma"]
    assert content_terms("beta gamma", stats, 2) == ["beta"]  # gamma is in one document only
    queries = ["beta gamma", "beta", "news", "zzz qqq", "gamma epsilon", "delta gamma"]
    got = specific(queries, stats, min_df=1, min_idf=1.2)
    sums = [idf["beta"] + idf["gamma"], idf["beta"], 0, 0, idf["gamma"] * 2, idf["gamma"]]
    relative = [x / math.log(n) for x in sums]  # relative IDF: ln(N/df) / ln(N)
    assert got.tolist() == [float(x >= 1.2) for x in relative] == [1, 0, 0, 0, 1, 0]


def naive_average_linkage(vecs, weights, merge):
    """Textbook weighted average linkage: cluster similarity = weighted mean over member pairs."""
    clusters = [[i] for i in range(len(vecs))]
    sim = vecs @ vecs.T

    def link(a, b):
        num = sum(weights[i] * weights[j] * sim[i, j] for i in a for j in b)
        return num / (sum(weights[i] for i in a) * sum(weights[j] for j in b))

    while len(clusters) > 1:
        pairs = list(itertools.combinations(range(len(clusters)), 2))
        vals = [link(clusters[a], clusters[b]) for a, b in pairs]
        k = int(np.argmax(vals))
        if vals[k] < merge:
            break
        a, b = pairs[k]
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
    return sorted(sorted(c) for c in clusters)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_matches_naive_average_linkage(seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, 16))
    x = centers[rng.integers(0, 4, 24)] + 0.6 * rng.normal(size=(24, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.integers(1, 4, 24).astype(float)
    labels = cluster(x, w, 0.3)
    got = sorted(sorted(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels))
    assert got == naive_average_linkage(x, w, 0.3)
    assert 1 < len(got) < 24


def test_major_themes_rules():
    x = unit([1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0.98, 0.2], [0, 0, 1])
    texts = ["a1", "a2", "b1", "b2", "c1"]
    th = major_themes(x, texts, np.array([3, 2, 2, 1, 1]), 0.5, 0.2, 2, 8)
    # clusters {a1, a2} 5/9, {b1, b2} 3/9, {c1} 1/9 (below share and events): two themes
    assert len(th) == 2 and th.labels[0] in ("a1", "a2") and th.labels[1] in ("b1", "b2")
    np.testing.assert_allclose(th.weights, [5 / 9, 3 / 9], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(th.centroids, axis=1), 1.0, atol=1e-6)
    lone = major_themes(x[4:], ["c1"], np.array([1]), 0.5, 0.2, 2, 8)
    assert lone.labels == ("c1",)  # nothing qualifies: the heaviest cluster is the theme
    assert len(major_themes(np.zeros((0, 3), np.float32), [], np.zeros(0), 0.5, 0.2, 2, 8)) == 0


def test_fixed_and_batch_normalisation_and_total():
    raw = {
        "align": np.array([0.35, 0.6, 0.95], np.float32),
        "cov": np.array([0.0, 0.5, 1.0], np.float32),
        "spec": np.array([1.0, 1.0, 1.0], np.float32),
        "div": np.array([1.2, 0.5, 0.0], np.float32),
        "struct": np.array([0.0, 1.0, 1.0], np.float32),
    }
    cfg = RewardConfig(ranges=(("align", (0.35, 0.85)),) + RewardConfig().ranges[1:])
    norm = normalise(raw, cfg)
    np.testing.assert_allclose(norm["align"], [0.0, 0.5, 1.0], atol=1e-6)  # 0.95 clipped
    np.testing.assert_allclose(norm["div"], [1.0, 0.5, 0.0], atol=1e-6)
    weights = parse_weights("align=2,div=0", cfg)
    got = total(norm, RewardConfig(weights=weights))
    want = 2 * norm["align"] + 8 * norm["cov"] + norm["spec"] + norm["struct"]  # cov keeps 8
    np.testing.assert_allclose(got, want, atol=1e-6)
    even = parse_weights("align=1,cov=1,spec=1,div=1,struct=1")
    got = total(norm, RewardConfig(weights=even))
    np.testing.assert_allclose(got, sum(norm[s] for s in norm), atol=1e-6)
    bn = normalise(raw, RewardConfig(normalise="batch"))
    x = raw["cov"].astype(np.float64)
    np.testing.assert_allclose(bn["cov"], (x - x.mean()) / x.std(), atol=1e-5)
    assert bn["spec"].tolist() == [0.0, 0.0, 0.0]  # constant over the batch -> 0, not NaN


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_weights("aling=1")
    with pytest.raises(ValueError, match="not a number"):
        parse_weights("cov=x")
    with pytest.raises(ValueError, match="weight of cov"):
        RewardConfig(weights=(("cov", -1.0),))
    with pytest.raises(ValueError, match="normalise"):
        RewardConfig(normalise="rank")
    assert dict(parse_weights("div=0"))["div"] == 0.0
