"""Noise cleaning: the Appendix B prompt is the paper's, the judge parser refuses bad answers,
P/R/F1 matches scikit-learn, the n-gram baseline learns, the filter mask is aligned."""

import re
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from jaxinterest.clean import (
    JUDGE_SYSTEM_PROMPT,
    JUDGE_USER_TEMPLATE,
    JudgeAnswerError,
    NgramConfig,
    filter_events,
    join_labels,
    judge_messages,
    labels_from_judge,
    load_classifier,
    parse_judge_label,
    precision_recall_f1,
    render_behaviors,
    save_classifier,
    train_classifier,
    user_split_mask,
)
from jaxinterest.clean.ngram import featurize, ngrams

PAPER = Path("/work/shared/seeds/paper-2602.15005.txt")


def _words(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.skipif(not PAPER.is_file(), reason="paper text not on this machine")
def test_prompt_is_the_papers_appendix_b():
    paper = PAPER.read_text()
    start = paper.index("You are a strict classifier")
    end = paper.index('"label": 0 or 1', start)
    close = paper.index("```", end) + 3  # the fence that closes the output format
    appendix = paper[start:close]
    # Undo the two PDF extraction artefacts the module docstring names; nothing else.
    appendix = appendix.replace("navi-\n\ngational", "navigational")
    appendix = appendix.replace("$y \\in \\{0, 1\\}$", "y ∈ {0, 1}")
    ours = JUDGE_SYSTEM_PROMPT + "\n" + JUDGE_USER_TEMPLATE.format(USER_BEHAVIOR="{USER_BEHAVIOR}")
    paper_norm = _words(appendix.replace("User Prompt", ""))
    assert _words(ours) == paper_norm


def test_judge_messages_fill_the_behaviour():
    msgs = judge_messages("[search] nvidia earnings")
    assert msgs[0]["role"] == "system" and msgs[0]["content"] == JUDGE_SYSTEM_PROMPT
    assert "A single user behavioral signal [search] nvidia earnings" in msgs[1]["content"]
    assert '"label": 0 or 1' in msgs[1]["content"]


@pytest.mark.parametrize(
    "answer,label",
    [
        ('{"label": 1}', 1),
        ('{"label": 0}', 0),
        ('```json\n{"label": 1}\n```', 1),
        ('  {"label":0, "why": "login"} ', 0),
    ],
)
def test_parse_judge_label_accepts(answer, label):
    assert parse_judge_label(answer) == label


@pytest.mark.parametrize(
    "answer",
    [
        "1",
        "yes",
        '{"label": 2}',
        '{"label": true}',
        '{"keep": 1}',
        '{"label": "1"}',
        "",
        "[1]",
        'Sure! {"label": 1}',
    ],
)
def test_parse_judge_label_refuses(answer):
    with pytest.raises(JudgeAnswerError):
        parse_judge_label(answer)


def _events(rows):
    cols = ["event_id", "user_id", "domain", "text", "url"]
    return pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})


def test_labels_from_judge_and_malformed_answer():
    ev = _events(
        [
            (1, "u1", "search", "fed rate decision", None),
            (2, "u1", "browse", "Sign in", "https://bank.example/login"),
        ]
    )

    def judge(messages):
        return '{"label": 0}' if "bank.example" in messages[1]["content"] else '{"label": 1}'

    assert labels_from_judge(ev, judge) == [1, 0]
    with pytest.raises(JudgeAnswerError, match="event row 1"):
        labels_from_judge(ev, lambda m: '{"label": 1}' if "fed rate" in m[1]["content"] else "no")


def test_precision_recall_f1_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        t, p = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
        got = precision_recall_f1(t, p)
        assert got["precision"] == pytest.approx(metrics.precision_score(t, p))
        assert got["recall"] == pytest.approx(metrics.recall_score(t, p))
        assert got["f1"] == pytest.approx(metrics.f1_score(t, p))
    assert precision_recall_f1([0, 0], [0, 0])["f1"] == 0.0


def test_render_join_split_errors():
    ev = _events([(1, "u1", "search", "q", None), (2, "u2", "shop", "x", None)])
    with pytest.raises(ValueError, match="row 1.*domain"):
        render_behaviors(ev)
    ok = _events([(1, "u1", "search", "q", None), (2, "u2", "click", "t", None)])
    with pytest.raises(KeyError, match="event_id 2"):
        join_labels(ok, pa.table({"event_id": [1], "keep": [1]}))
    with pytest.raises(KeyError, match="u2"):
        user_split_mask(ok, pa.table({"user_id": ["u1"], "split": ["train"]}))
    users = pa.table({"user_id": ["u1", "u2"], "split": ["train", "valid"]})
    assert user_split_mask(ok, users).tolist() == [True, False]


def test_ngram_hashing_is_stable_and_normalised():
    cfg = NgramConfig(n_buckets=1 << 12)
    grams = ngrams("Ab", cfg)
    # " ab " has char 3-grams " ab", "ab " and one 4-gram; plus the word 1-gram "ab".
    expected = {
        zlib.crc32(g.encode()) % cfg.n_buckets for g in ["c: ab", "c:ab ", "c: ab ", "w:ab"]
    }
    assert set(grams) == expected
    idx, val = featurize(["hello world", "", "x" * 100_000], cfg)
    assert np.allclose(np.linalg.norm(val, axis=1), [1.0, 0.0, 1.0], atol=1e-6)


def synthetic(rng, n, topics, noise):
    texts, labels = [], []
    for _ in range(n):
        if rng.random() < 0.5:
            a, b = rng.choice(len(topics), 2, replace=False)
            texts.append(f"[search] {topics[a]} {topics[b]} latest")
            labels.append(1)
        else:
            texts.append(f"[browse] {noise[rng.integers(len(noise))]} <https://x{n}.com/login>")
            labels.append(0)
    return texts, np.array(labels)


TOPICS = [
    "federal reserve",
    "nvidia earnings",
    "ukraine war",
    "battery tech",
    "election poll",
    "wildfire season",
    "nba trade",
    "mars rover",
    "vaccine trial",
    "oil prices",
]
HELD_TOPICS = ["interest rates", "chip exports", "climate summit", "playoff results"]
NOISE = ["sign in", "account login", "my inbox", "home page", "weather today", "cart checkout"]


def test_ngram_baseline_learns_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    x, y = synthetic(rng, 600, TOPICS, NOISE)
    xt, yt = synthetic(rng, 200, HELD_TOPICS, NOISE)
    clf, _ = train_classifier("ngram", x, y, NgramConfig(n_buckets=1 << 14, epochs=5))
    assert precision_recall_f1(yt, clf.predict(xt))["f1"] > 0.95
    save_classifier(tmp_path / "m", clf)
    back = load_classifier(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(xt), clf.predict_proba(xt))


def test_filter_events_mask_is_aligned(tmp_path):
    rng = np.random.default_rng(2)
    x, y = synthetic(rng, 400, TOPICS, NOISE)
    clf, _ = train_classifier("ngram", x, y, NgramConfig(n_buckets=1 << 14, epochs=5))
    ev = _events(
        [
            (1, "u", "search", "oil prices federal reserve", None),
            (2, "u", "browse", "account login", "https://bank.example/login"),
            (3, "u", "search", "", None),
        ]
    )
    mask = filter_events(ev, clf)
    assert mask.dtype == bool and mask.shape == (3,)
    assert mask[:2].tolist() == [True, False]


def test_load_classifier_bad_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="classifier.json"):
        load_classifier(tmp_path)
    (tmp_path / "classifier.json").write_text('{"kind": "svm"}')
    with pytest.raises(ValueError, match="kind"):
        load_classifier(tmp_path)


def test_make_clean_fn_fits_the_pipeline_hook():
    import pickle

    from jaxinterest.clean import make_clean_fn

    rng = np.random.default_rng(4)
    x, y = synthetic(rng, 400, TOPICS, NOISE)
    clf, _ = train_classifier("ngram", x, y, NgramConfig(n_buckets=1 << 14, epochs=5))
    fn = pickle.loads(pickle.dumps(make_clean_fn(clf)))  # Grain workers receive a pickled copy
    # the columns the data pipeline hands to clean_fn (no user_id)
    ev = pa.table(
        {
            "event_id": [1, 2],
            "domain": ["search", "browse"],
            "timestamp": [1, 2],
            "text": ["nba trade rumors", "account login"],
            "url": [None, "https://bank.example/login"],
            "news_id": [None, None],
        }
    )
    mask = fn(ev)
    assert mask.dtype == bool and mask.tolist() == [True, False]


def test_keep_lookup_clean_fn():
    import pickle

    from jaxinterest.clean import KeepLookup

    fn = pickle.loads(
        pickle.dumps(KeepLookup(pa.table({"event_id": [7, 3, 5], "keep": [1, 0, 1]})))
    )
    assert fn(pa.table({"event_id": [5, 3, 7]})).tolist() == [True, False, True]
    with pytest.raises(KeyError, match="event_id 4"):
        fn(pa.table({"event_id": [3, 4]}))
