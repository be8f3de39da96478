"""The evaluation protocol on a small hand-built world: its metrics equal a brute-force numpy
retrieval + round-robin merge + textbook formulas written here, and bad input is refused or
counted as documented."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from jaxinterest.embed import embed
from jaxinterest.eval.recommend import EvalConfig, build_test_index, evaluate_queries, load_queries
from jaxinterest.eval.reference import own_searches, popular_titles, shuffled_searches

TEST_START, TEST_END = 1_000_000, 1_600_000
TOPICS = {
    "nba": [
        "Lakers beat Celtics in overtime thriller",
        "NBA trade deadline: Knicks add guard",
        "Warriors star out with ankle injury",
        "NBA playoff race tightens in the West",
    ],
    "fed": [
        "Federal Reserve holds interest rates steady",
        "Fed chair signals cut next year",
        "Mortgage rates fall after Fed decision",
        "Inflation cools as Fed watches jobs",
    ],
    "space": [
        "NASA rover finds ancient lake on Mars",
        "SpaceX launches new Starship test",
        "Astronomers spot distant exoplanet with water",
        "Moon mission delayed to spring",
    ],
    "food": [
        "Ten easy weeknight pasta recipes",
        "Best sourdough bread tips from bakers",
        "Chef shares secret to crispy roast potatoes",
        "Vegan desserts that taste great",
    ],
}


def make_world():
    news, n = [], 0
    for topic, titles in TOPICS.items():
        for i, t in enumerate(titles):
            # two old (training-window) and two fresh (test-week) articles per topic... plus all
            published = TEST_START + 1000 * n if i % 4 != 3 else TEST_START - 5000
            news.append((f"N{n:03d}", t, f"{topic} abstract", topic, published))
            n += 1
    news_t = pa.table(
        {
            "news_id": [r[0] for r in news],
            "title": [r[1] for r in news],
            "abstract": [r[2] for r in news],
            "category": [r[3] for r in news],
            "entities": [[] for _ in news],
            "published": [r[4] for r in news],
        }
    )
    ev = [  # (user, domain, ts, text, news_id)
        ("u_nba", "search", 10, "nba playoffs", None),
        ("u_nba", "search", 20, "lakers celtics score", None),
        ("u_nba", "click", 30, TOPICS["nba"][3], "N003"),
        ("u_fed", "search", 10, "fed interest rates", None),
        ("u_fed", "search", 11, "mortgage rates", None),
        ("u_space", "search", 10, "mars rover nasa", None),
        ("u_space", "click", 12, TOPICS["nba"][3], "N003"),
        ("u_food", "search", 10, "pasta recipes", None),
        ("u_none", "browse", 10, "login", None),
    ]
    events = pa.table(
        {
            "event_id": list(range(len(ev))),
            "user_id": [e[0] for e in ev],
            "domain": [e[1] for e in ev],
            "timestamp": [e[2] for e in ev],
            "text": [e[3] for e in ev],
            "url": [None] * len(ev),
            "news_id": [e[4] for e in ev],
        }
    )
    users = pa.table(
        {
            "user_id": ["u_nba", "u_fed", "u_space", "u_food", "u_none"],
            "split": ["train"] * 5,
            "cold": [False, False, True, True, False],
        }
    )
    clicks = [
        ("u_nba", "N000"),
        ("u_nba", "N001"),
        ("u_fed", "N004"),
        ("u_fed", "N006"),
        ("u_space", "N008"),
        ("u_space", "N007"),  # N007 is old: not in the test index
        ("u_none", "N012"),
    ]  # u_food has no test clicks
    test_clicks = pa.table(
        {
            "user_id": [c[0] for c in clicks],
            "news_id": [c[1] for c in clicks],
            "timestamp": [TEST_START + 1] * len(clicks),
        }
    )
    meta = {"test_start": TEST_START, "test_end": TEST_END}
    return SimpleNamespace(
        news=news_t, events=events, users=users, test_clicks=test_clicks, meta=meta
    )


@pytest.fixture(scope="module")
def world():
    return make_world()


@pytest.fixture(scope="module")
def index(world):
    return build_test_index(world)


def brute_force(world, queries, method, k=10):
    """Exact cosine top-k per query over fresh articles, merged per user with seen removed:
    round robin (rank-major over queries) or CombSUM (sum of a query's similarity over the
    queries that retrieved the article; ties keep round-robin order)."""
    news = world.news.to_pylist()
    fresh = [r for r in news if TEST_START <= r["published"] < TEST_END]
    art = embed([r["title"] for r in fresh])
    seen = {}
    for e in world.events.to_pylist():
        if e["domain"] == "click":
            seen.setdefault(e["user_id"], set()).add(e["news_id"])
    out = {}
    for u in world.users.column("user_id").to_pylist():
        qs = [q for q in queries.get(u, []) if q.strip()]
        lists = []
        for q in qs:
            sims = art @ embed([q])[0]
            top = np.argsort(-sims, kind="stable")[:k]
            lists.append([(fresh[i]["news_id"], float(sims[i])) for i in top])
        order, total = [], {}
        for r in range(k):
            for lst in lists:
                a, sim = lst[r]
                if a in seen.get(u, set()):
                    continue
                if a not in total:
                    order.append(a)
                total[a] = total.get(a, 0.0) + sim
        if method == "score_fusion":
            order = sorted(order, key=lambda a: -total[a])  # stable: ties keep round-robin order
        out[u] = order[:k]
    return out


def textbook(ranked, relevant, k):
    hits = [i for i, x in enumerate(ranked[:k]) if x in relevant]
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return len(hits) / len(relevant), sum(1 / math.log2(i + 2) for i in hits) / idcg


@pytest.mark.parametrize("method", ["round_robin", "score_fusion"])
def test_matches_brute_force(world, index, method):
    queries = own_searches(world, n=10)
    report, ranked = evaluate_queries(world, queries, EvalConfig(merge_method=method), index=index)
    want = brute_force(world, queries, method)
    assert ranked == want
    rel = {}
    for r in world.test_clicks.to_pylist():
        rel.setdefault(r["user_id"], set()).add(r["news_id"])
    users = [u for u in want if rel.get(u)]
    for k in (5, 10):
        rec = np.mean([textbook(want[u], rel[u], k)[0] for u in users])
        ndcg = np.mean([textbook(want[u], rel[u], k)[1] for u in users])
        assert report["all"][f"recall@{k}"] == pytest.approx(rec)
        assert report["all"][f"ndcg@{k}"] == pytest.approx(ndcg)
        recs = [textbook(want[u], rel[u], k)[0] for u in users]
        se = np.std(recs, ddof=1) / np.sqrt(len(recs))
        assert report["all"]["stderr"][f"recall@{k}"] == pytest.approx(se)
    assert report["all"]["n_users"] == 4 and report["all"]["n_excluded_no_relevant"] == 1
    assert report["warm"]["n_users"] + report["cold"]["n_users"] == 4
    assert report["counts"]["n_relevant_not_in_index"] == 1  # u_space's old article N007
    assert report["counts"]["n_test_articles"] == 12
    assert "N003" not in ranked["u_space"]  # clicked in training: never recommended


def test_own_searches_newest_first_and_popularity(world):
    own = own_searches(world, n=1)
    assert own["u_nba"] == ["lakers celtics score"] and own["u_none"] == []
    assert popular_titles(world, 1) == [TOPICS["nba"][3]]  # N003 clicked twice
    shuffled = shuffled_searches(world, n=10, seed=3)
    assert all(shuffled[u] != own_searches(world)[u] or not shuffled[u] for u in shuffled)
    assert sorted(map(tuple, shuffled.values())) == sorted(map(tuple, own_searches(world).values()))


def test_bad_queries_are_counted(world, index):
    long_q = "federal reserve interest rates " * 4000  # ~124k characters
    queries = {"u_nba": [], "u_fed": ["", "   ", long_q], "u_space": ["mars rover nasa"]}
    report, ranked = evaluate_queries(world, queries, index=index)
    c = report["counts"]
    assert c["n_users_missing_queries"] == 2  # u_food, u_none
    assert c["n_users_no_queries"] == 3  # those two + u_nba's empty list
    assert c["n_empty_queries_dropped"] == 2
    assert ranked["u_nba"] == [] and len(ranked["u_fed"]) == 10
    # the long query is cut to 256 tokens by the encoder: same list as its first 4000 characters
    # (~500 tokens, also cut to the same 256)
    _, short = evaluate_queries(world, {"u_fed": [long_q[:4000]]}, index=index)
    assert short["u_fed"] == ranked["u_fed"]


def test_unknown_users(world, index):
    with pytest.raises(KeyError, match="u_ghost"):
        evaluate_queries(world, {"u_ghost": ["x"]}, index=index)
    report, _ = evaluate_queries(world, {"u_ghost": ["x"]}, index=index, unknown_users="skip")
    assert report["counts"]["n_unknown_users_skipped"] == 1
    with pytest.raises(TypeError, match="u_nba"):
        evaluate_queries(world, {"u_nba": "nba playoffs"}, index=index)


def test_cap_and_config(world, index):
    cfg = EvalConfig(max_queries_per_user=1)
    report, _ = evaluate_queries(world, {"u_nba": ["a", "b", "c"]}, cfg, index=index)
    assert report["counts"]["n_queries_over_cap"] == 2 and report["counts"]["n_queries"] == 1


def test_load_queries_formats_and_errors(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"user_id": "u1", "queries": ["a", "b"]}\n\n{"user_id": "u2", "queries": []}\n')
    assert load_queries(p) == {"u1": ["a", "b"], "u2": []}
    d = tmp_path / "q.json"
    d.write_text(json.dumps({"u1": ["a"], "u2": ["b"]}))
    assert load_queries(d) == {"u1": ["a"], "u2": ["b"]}
    for text, match in [
        ('{"user_id": "u1", "queries": ["a"]}\n{"user_id": "u1"', "line 2"),
        ('{"user_id": "u1", "queries": "a"}', "field 'queries'"),
        ('{"user_id": 3, "queries": []}', "field 'user_id'"),
        ('{"user_id": "u1", "queries": []}\n{"user_id": "u1", "queries": []}', "twice"),
        ("[1, 2]", "expected an object"),
    ]:
        p.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_queries(p)


def test_index_must_cover_the_test_window(world):
    from jaxinterest.retrieval import build_index

    wrong = build_index(["N000"], embed(["x"]), [0], (0, TEST_START))
    with pytest.raises(ValueError, match="test window"):
        evaluate_queries(world, {}, index=wrong)
