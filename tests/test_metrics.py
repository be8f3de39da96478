"""ranking_metrics against ranx and against a per-user loop written here from the definitions."""

import math

import numpy as np
import pytest

from jaxinterest.eval.metrics import per_user_metrics, ranking_metrics


def reference_user(ranked, relevant, ks):
    """Textbook metrics for one user, after keeping the first occurrence of each id."""
    seen, ranking = set(), []
    for x in ranked:
        if x not in seen:
            seen.add(x)
            ranking.append(x)
    out = {}
    for k in ks:
        top = ranking[:k]
        hits = [i for i, x in enumerate(top) if x in relevant]
        out[f"recall@{k}"] = len(hits) / len(relevant)
        dcg = sum(1.0 / math.log2(i + 2) for i in hits)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        out[f"ndcg@{k}"] = dcg / idcg
    out["mrr"] = 0.0
    for i, x in enumerate(ranking):
        if x in relevant:
            out["mrr"] = 1.0 / (i + 1)
            break
    return out


def random_case(rng, n_users, n_items, max_len, dup=False, p_empty_rel=0.1):
    ranked, relevant = [], []
    for _ in range(n_users):
        length = int(rng.integers(0, max_len + 1))
        if dup:
            lst = [f"N{int(i)}" for i in rng.integers(0, n_items, size=length)]
        else:
            lst = [f"N{int(i)}" for i in rng.permutation(n_items)[:length]]
        ranked.append(lst)
        n_rel = 0 if rng.random() < p_empty_rel else int(rng.integers(1, 8))
        relevant.append({f"N{int(i)}" for i in rng.integers(0, n_items, size=n_rel)})
    return ranked, relevant


def reference_average(ranked, relevant, ks):
    rows = [reference_user(r, s, ks) for r, s in zip(ranked, relevant, strict=True) if s]
    return {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}, len(rows)


@pytest.mark.parametrize("dup", [False, True])
@pytest.mark.parametrize("ks", [(5, 10), (1, 3, 20)])
def test_matches_direct_formula(dup, ks):
    rng = np.random.default_rng(7 + int(dup) + len(ks))
    ranked, relevant = random_case(rng, n_users=300, n_items=40, max_len=25, dup=dup)
    got = ranking_metrics(ranked, relevant, ks=ks)
    want, n_eval = reference_average(ranked, relevant, ks)
    assert got["n_users"] == n_eval
    assert got["n_excluded_no_relevant"] == sum(1 for s in relevant if not s)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    n_dup = sum(len(r) - len(set(r)) for r in ranked)
    assert got["n_duplicates_removed"] == n_dup
    if dup:
        assert n_dup > 0  # the case really exercises de-duplication


def test_matches_ranx():
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(3)
    ranked, relevant = random_case(rng, n_users=200, n_items=60, max_len=30, p_empty_rel=0.0)
    qrels, run = {}, {}
    for u, (r, s) in enumerate(zip(ranked, relevant, strict=True)):
        qrels[f"u{u}"] = {x: 1 for x in s}
        # ranx wants scores; strictly decreasing scores reproduce our order. An empty list gets
        # one id that is never relevant, which scores 0 everywhere in both implementations.
        r = r or ["never-relevant"]
        run[f"u{u}"] = {x: float(len(r) - i) for i, x in enumerate(r)}
    names = ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr"]
    want = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names, make_comparable=True)
    got = ranking_metrics(ranked, relevant)
    for name in names:
        assert got[name] == pytest.approx(float(want[name]), abs=1e-9), name


def test_hand_example():
    # rel = {a, c}; list = [b, a, c]: hits at ranks 2 and 3.
    got = ranking_metrics([["b", "a", "c"]], [{"a", "c"}], ks=(1, 2, 5))
    assert got["recall@1"] == 0.0
    assert got["recall@2"] == 0.5
    assert got["recall@5"] == 1.0
    idcg = 1 + 1 / math.log2(3)
    assert got["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / idcg)
    assert got["mrr"] == 0.5


def test_short_and_empty_lists_and_no_relevant():
    ranked = [[], ["x"], ["a", "a", "b"], ["z"]]
    relevant = [{"a"}, {"x", "y"}, {"b"}, set()]
    per = per_user_metrics(ranked, relevant)
    assert per["recall@10"][0] == 0.0 and per["mrr"][0] == 0.0
    assert per["recall@10"][1] == 0.5 and per["mrr"][1] == 1.0
    # duplicate "a" removed, so "b" sits at rank 2
    assert per["mrr"][2] == 0.5 and per["n_duplicates"][2] == 1
    assert np.isnan(per["mrr"][3])
    got = ranking_metrics(ranked, relevant)
    assert got["n_users"] == 3 and got["n_excluded_no_relevant"] == 1
    assert got["n_duplicates_removed"] == 1


def test_nobody_evaluable_gives_nan():
    got = ranking_metrics([["a"]], [set()])
    assert got["n_users"] == 0 and math.isnan(got["recall@10"])
    got = ranking_metrics([], [])
    assert got["n_users"] == 0 and got["n_excluded_no_relevant"] == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="aligned"):
        ranking_metrics([["a"]], [{"a"}, {"b"}])
    with pytest.raises(TypeError, match=r"ranked\[0\]"):
        ranking_metrics(["abc"], [{"a"}])
    with pytest.raises(TypeError, match=r"relevant\[0\]"):
        ranking_metrics([["a"]], ["a"])
    with pytest.raises(ValueError, match="ks"):
        ranking_metrics([["a"]], [{"a"}], ks=(0,))
