"""The compressed ANN kinds (ivfpq, hnsw_sq) against exact numpy search on clustered data."""

import faiss
import numpy as np
import pytest

from jaxinterest.retrieval import build_index, load_index, retrieve, save_index
from jaxinterest.retrieval.kinds import MIN_PQ_ROWS

D = 64
# m=16 sub-vectors of 4 dims at 4 bits: codes alone are too coarse for recall@10 >= .95 here,
# so these bounds also test that the exact re-rank really runs.
KINDS = [("ivfpq", {"m": 16}), ("hnsw_sq", None)]


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _ids(n):
    return [f"N{i:07d}" for i in range(n)]


@pytest.fixture(scope="module")
def data():
    """20k unit vectors in 200 clusters (random centres, Gaussian spread) + 400 queries."""
    rng = np.random.default_rng(11)
    centres = _unit(rng.normal(size=(200, D)))
    x = _unit(centres[rng.integers(0, 200, 20_000)] + rng.normal(size=(20_000, D)) / np.sqrt(D))
    q = _unit(x[rng.integers(0, len(x), 400)] + 0.5 * rng.normal(size=(400, D)) / np.sqrt(D))
    sims = q @ x.T  # exact reference, independent of faiss
    exact = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    return x, q, exact, sims


def _recall(found_ids, exact_rows):
    ids = np.asarray(_ids(20_000), dtype=object)
    return np.mean(
        [len(set(a) & set(ids[b])) / 10 for a, b in zip(found_ids, exact_rows, strict=True)]
    )


@pytest.fixture(scope="module")
def built(data):
    x = data[0]
    return {kind: build_index(_ids(len(x)), x, kind=kind, params=p) for kind, p in KINDS}


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_recall_and_exact_scores(data, built, kind):
    x, q, exact, sims = data
    index = built[kind]
    found, scores = retrieve(index, q, 10)
    recall = _recall(found, exact)
    assert recall >= 0.95, (kind, recall)
    # re-ranked scores are the float inner products of the returned rows, best first
    rows = np.vectorize(lambda a: int(a[1:]))(found)
    np.testing.assert_allclose(scores, np.take_along_axis(sims, rows, axis=1), atol=1e-5)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


@pytest.mark.parametrize(
    "kind,narrow",
    [
        ("ivfpq", {"nprobe": 1, "refine_factor": 1}),
        ("hnsw_sq", {"ef_search": 7, "refine_factor": 3}),
    ],
)
def test_search_knobs_reach_faiss(data, built, kind, narrow):
    """retrieve writes params into the faiss objects; fewer IVF probes cost recall."""
    x, q, exact, _ = data
    index = built[kind]
    full = _recall(retrieve(index, q, 10)[0], exact)
    saved = dict(index.params)
    index.params.update(narrow)
    try:
        low = _recall(retrieve(index, q, 10)[0], exact)
        refine = faiss.downcast_index(index.index)
        assert refine.k_factor == narrow["refine_factor"]
        if kind == "ivfpq":
            assert faiss.extract_index_ivf(index.index).nprobe == 1
            assert low < full - 0.2, (low, full)  # one list of 512 misses most neighbours
        else:  # the graph's candidate list must hold k * refine_factor = 30 > ef_search
            assert faiss.downcast_index(refine.base_index).hnsw.efSearch == 30
    finally:
        index.params.clear()
        index.params.update(saved)


@pytest.mark.parametrize("kind", [k for k, _ in KINDS])
def test_save_load_round_trip(data, built, tmp_path, kind):
    x, q, _, _ = data
    index = built[kind]
    again = load_index(save_index(index, tmp_path / kind))
    assert (again.kind, again.params, again.dim) == (index.kind, index.params, index.dim)
    before, after = retrieve(index, q, 10), retrieve(again, q, 10)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


def test_small_ivfpq_is_exact(data):
    x, q, _, _ = data
    n = MIN_PQ_ROWS - 1
    ids, scores = retrieve(build_index(_ids(n), x[:n], kind="ivfpq", params={"m": 16}), q, 10)
    sims = q @ x[:n].T
    np.testing.assert_allclose(scores, -np.sort(-sims, axis=1)[:, :10], atol=1e-5)


@pytest.mark.parametrize(
    "kind,params,message",
    [
        ("ivfpq", {"m": 12}, "ivfpq m=12 must divide the embedding width 64"),
        ("ivfpq", {"nprobe": 0}, "ivfpq param nprobe must be a number >= 1, got 0"),
        ("ivfpq", {"refine_factor": "8"}, "refine_factor must be a number >= 1"),
        ("hnsw_sq", {"M": 1}, "hnsw_sq param M must be a number >= 2"),
        ("hnsw_sq", {"ef_search": 2.5}, "ef_search must be a number >= 1, got 2.5"),
        ("hnsw_sq", {"pca_dim": 8}, r"unknown hnsw_sq params \['pca_dim'\]"),
        ("hnsw", {"pca_dim": 64}, r"pca_dim must be in \[1, 64\)"),
    ],
)
def test_bad_params_are_named(data, kind, params, message):
    x = data[0][:2000]
    with pytest.raises(ValueError, match=message):
        build_index(_ids(len(x)), x, kind=kind, params=params)
