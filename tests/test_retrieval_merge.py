"""merge / merge_users / retrieve_merged: hand-written orders and random-input properties."""

import numpy as np
import pytest

from jaxinterest.retrieval import (
    METHODS,
    MISSING_ID,
    build_index,
    merge,
    merge_users,
    retrieve,
    retrieve_merged,
)

IDS = [["a", "b", "c"], ["b", "d", "e"], ["f", "a", "g"]]
SCORES = [[0.9, 0.8, 0.3], [0.85, 0.7, 0.6], [0.5, 0.95, 0.1]]


def test_round_robin_order_written_out():
    # rank 1: a b f; rank 2: b (dup) d (seen) a (dup); rank 3: c e g
    assert merge(IDS, SCORES, 10, "round_robin", exclude={"d"}) == ["a", "b", "f", "c", "e", "g"]
    assert merge(IDS, SCORES, 4, "round_robin", exclude={"d"}) == ["a", "b", "f", "c"]


def test_score_max_order_written_out():
    # best score per article: a .95, b .85, d .7, e .6, f .5, c .3, g .1 (d excluded)
    assert merge(IDS, SCORES, 10, "score_max", exclude=["d"]) == ["a", "b", "e", "f", "c", "g"]


def test_score_fusion_sums_and_is_default():
    # sums: a .9 + .95 = 1.85, b .8 + .85 = 1.65, d .7, e .6, f .5, c .3, g .1
    assert merge(IDS, SCORES, 3, "score_fusion") == ["a", "b", "d"]
    assert merge(IDS, SCORES, 10) == ["a", "b", "d", "e", "f", "c", "g"]
    # a lone high score loses to two agreeing medium ones
    assert merge([["x", "y"], ["y", "z"]], [[0.9, 0.5], [0.6, 0.1]], 2) == ["y", "x"]


def test_missing_slots_and_unknown_exclusions():
    ids = [["x", MISSING_ID], ["y", MISSING_ID]]
    scores = [[0.4, -np.inf], [0.3, -np.inf]]
    for method in METHODS:
        assert merge(ids, scores, 5, method, exclude={"not-in-index"}) == ["x", "y"]
    assert merge(np.empty((0, 10), object), np.empty((0, 10)), 10) == []


@pytest.mark.parametrize("method", METHODS)
def test_random_properties(method):
    rng = np.random.default_rng(0)
    pool = [f"N{i}" for i in range(40)]
    for _ in range(200):
        q, kk, k = rng.integers(1, 6), rng.integers(1, 12), int(rng.integers(1, 15))
        ids = rng.choice(pool, size=(q, kk)).astype(object)
        scores = rng.random((q, kk))
        ids[rng.random((q, kk)) < 0.1] = MISSING_ID
        scores[ids == MISSING_ID] = -np.inf
        seen = set(rng.choice(pool, size=5))
        out = merge(ids, scores, k, method, exclude=seen)
        usable = {a for a in ids.ravel() if a != MISSING_ID} - seen
        assert len(out) == len(set(out)) == min(k, len(usable))
        assert set(out) <= usable
        if method == "score_max":
            best: dict = {}
            for b, s in zip(ids.ravel(), scores.ravel(), strict=True):
                best[b] = max(best.get(b, -np.inf), s)
            vals = [best[a] for a in out]
            assert vals == sorted(vals, reverse=True)
            rest = usable - set(out)
            assert not rest or min(vals) >= max(best[a] for a in rest)


def test_bad_merge_input():
    with pytest.raises(ValueError, match="method must be"):
        merge(IDS, SCORES, 3, "borda")
    with pytest.raises(ValueError, match=r"\[Q, k\]"):
        merge(IDS, [[0.1, 0.2]], 3)
    with pytest.raises(ValueError, match="k must be"):
        merge(IDS, SCORES, 0)
    with pytest.raises(ValueError, match="exclude sets"):
        merge_users([IDS], [SCORES], 3, exclude_per_user=[set(), set()])


def test_retrieve_merged_text_path():
    from jaxinterest.embed import embed

    titles = ["Storm hits coast", "Rates held by central bank", "Cup final won", "New phone"]
    index = build_index([f"N{i}" for i in range(4)], embed(titles), kind="flat")
    users = [["storm coast", "bank rates"], [], ["phone launch", "", "x" * 100_000]]
    out = retrieve_merged(index, users, 3, exclude_per_user=[{"N1"}, set(), set()])
    ids, scores = retrieve(index, [q for qs in users for q in qs], 3)
    assert out[0] == merge(ids[:2], scores[:2], 3, exclude={"N1"})
    assert out[1] == []
    assert out[2] == merge(ids[2:], scores[2:], 3)
    assert out[0][0] == "N0" and "N1" not in out[0]
    with pytest.raises(TypeError, match=r"queries_per_user\[0\] is a str"):
        retrieve_merged(index, ["storm"], 3)
