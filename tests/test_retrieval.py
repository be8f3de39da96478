"""NewsIndex / retrieve / save-load against brute-force numpy search on random data."""

import numpy as np
import pytest

from jaxinterest.retrieval import (
    KINDS,
    MISSING_ID,
    build_index,
    load_index,
    retrieve,
    save_index,
)


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n, d, n_clusters, spread, seed):
    """Unit vectors around random unit centres, like topical news embeddings."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(n_clusters, d)))
    which = rng.integers(0, n_clusters, size=n)
    return _unit(centres[which] + spread * rng.normal(size=(n, d)) / np.sqrt(d))


def _ids(n):
    return [f"N{i:07d}" for i in range(n)]


def brute_force(x, q, k):
    sims = q @ x.T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(sims, top, axis=1)


@pytest.fixture(scope="module")
def data():
    x = clustered(20_000, 48, 200, 1.0, seed=0)
    rng = np.random.default_rng(1)  # queries: perturbed articles, so they fall in the clusters
    q = _unit(x[rng.integers(0, len(x), 500)] + 0.5 * rng.normal(size=(500, 48)) / np.sqrt(48))
    return x, q


def test_flat_equals_brute_force(data):
    x, q = data
    index = build_index(_ids(len(x)), x, kind="flat")
    ids, scores = retrieve(index, q, 10)
    top, ref = brute_force(x, q, 10)
    assert ids.shape == scores.shape == (len(q), 10) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, ref, atol=1e-5)
    expected = np.asarray(_ids(len(x)), dtype=object)[top]
    gap = ref[:, :-1] - ref[:, 1:]
    assert (ids == expected)[:, :-1][gap > 1e-5].all()  # order equal wherever there is no tie
    assert (scores[:, :-1] >= scores[:, 1:]).all()


APPROX = [("hnsw", None), ("ivf", None), ("hnsw", {"pca_dim": 32, "refine_factor": 4})]


@pytest.mark.parametrize("kind,params", APPROX[:2])
def test_approximate_recall_vs_flat(data, kind, params):
    x, q = data
    exact, _ = retrieve(build_index(_ids(len(x)), x, kind="flat"), q, 10)
    approx, scores = retrieve(build_index(_ids(len(x)), x, kind=kind, params=params), q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)])
    assert recall >= 0.95, (kind, recall)
    assert np.isfinite(scores).all()


def test_pca_hnsw_recall_on_low_rank_data():
    """The PCA option assumes what sentence embeddings show: variance concentrated in a few
    directions. Data: clusters in a random 24-dim subspace of R^96 plus weak isotropic noise."""
    rng = np.random.default_rng(5)
    basis = np.linalg.qr(rng.normal(size=(96, 24)))[0].T  # [24, 96] orthonormal rows
    low = clustered(20_500, 24, 200, 1.0, seed=6)
    x = _unit(low @ basis + 0.05 * rng.normal(size=(20_500, 96)) / np.sqrt(96))
    x, q = x[:20_000], x[20_000:]
    exact, _ = retrieve(build_index(_ids(len(x)), x, kind="flat"), q, 10)
    index = build_index(_ids(len(x)), x, kind="hnsw", params={"pca_dim": 32})
    approx, _ = retrieve(index, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact, strict=True)])
    assert recall >= 0.95, recall
    with pytest.raises(ValueError, match="pca_dim must be in"):
        build_index(_ids(len(x)), x, kind="hnsw", params={"pca_dim": 96})


@pytest.mark.parametrize("kind", KINDS)
def test_window_filter_never_leaks(data, kind):
    x, q = data
    rng = np.random.default_rng(2)
    published = rng.integers(0, 1000, size=len(x))
    index = build_index(_ids(len(x)), x, published, window=(300, 600), kind=kind)
    inside = {a for a, p in zip(_ids(len(x)), published, strict=True) if 300 <= p < 600}
    assert set(index.ids) == inside and index.window == (300, 600)
    ids, _ = retrieve(index, q, 20)
    assert set(ids.ravel()) <= inside


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(data, tmp_path, kind):
    x, q = data
    index = build_index(
        _ids(5000), x[:5000], kind=kind, params={"M": 16} if "hnsw" in kind else None
    )
    before = retrieve(index, q, 10)
    again = load_index(save_index(index, tmp_path / "index"))
    assert (again.kind, again.params, again.dim, again.window) == (
        index.kind,
        index.params,
        index.dim,
        index.window,
    )
    after = retrieve(again, q, 10)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("kind", KINDS)
def test_k_larger_than_index_is_padded(data, kind):
    x, q = data
    index = build_index(_ids(7), x[:7], kind=kind)
    ids, scores = retrieve(index, q[:3], 10)
    assert ids.shape == (3, 10)
    assert (ids[:, 7:] == MISSING_ID).all() and np.isneginf(scores[:, 7:]).all()
    for row in ids:
        assert sorted(row[:7]) == _ids(7)
    empty = build_index([], np.zeros((0, 48), np.float32), kind=kind)
    ids, scores = retrieve(empty, q[:2], 3)
    assert (ids == MISSING_ID).all() and np.isneginf(scores).all()


def test_empty_query_list_and_text_queries():
    from jaxinterest.embed import embed

    titles = ["Storm hits the coast", "Central bank holds rates", "Team wins the cup final"]
    index = build_index(["a1", "a2", "a3"], embed(titles), kind="flat")
    ids, scores = retrieve(index, [], 2)
    assert ids.shape == (0, 2) and scores.shape == (0, 2)
    ids, scores = retrieve(index, np.zeros((0, index.dim), np.float32), 2)
    assert ids.shape == (0, 2)
    queries = ["", "interest rates decision", "x" * 100_000, "cup final " * 10_000]
    ids, scores = retrieve(index, queries, 2)
    assert ids.shape == (4, 2) and np.isfinite(scores).all()
    assert ids[1, 0] == "a2"


def test_bad_input_is_named(tmp_path):
    x = clustered(10, 8, 2, 1.0, seed=3)
    with pytest.raises(ValueError, match=r"news_ids\[3\] = 'N0000001' duplicates news_ids\[1\]"):
        build_index(_ids(3) + ["N0000001"] + _ids(10)[4:], x)
    with pytest.raises(ValueError, match="row 4 has norm"):
        build_index(_ids(10), np.where(np.arange(10)[:, None] == 4, 2 * x, x))
    with pytest.raises(ValueError, match="row 2 has NaN"):
        build_index(_ids(10), np.where(np.arange(10)[:, None] == 2, np.nan, x))
    with pytest.raises(ValueError, match="needs `published`"):
        build_index(_ids(10), x, window=(0, 1))
    with pytest.raises(ValueError, match="non-empty strings"):
        build_index(_ids(9) + [""], x)
    with pytest.raises(ValueError, match="kind must be"):
        build_index(_ids(10), x, kind="lsh")
    index = build_index(_ids(10), x, kind="flat")
    with pytest.raises(ValueError, match="width 9, the index has 8"):
        retrieve(index, np.ones((2, 9), np.float32) / 3.0, 3)
    with pytest.raises(ValueError, match="k must be"):
        retrieve(index, x[:2], 0)
    with pytest.raises(TypeError, match="list of str"):
        retrieve(index, "one query", 3)
    with pytest.raises(FileNotFoundError, match="index.faiss missing"):
        load_index(tmp_path)
