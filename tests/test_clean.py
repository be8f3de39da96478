"""Noise cleaning: the Appendix B prompt is the paper's, the judge parser refuses bad answers,
P/R/F1 matches scikit-learn, the n-gram baseline learns, the filter mask is aligned, held-out
splits share no text, thresholds and scores match formulas, and bad input is named."""

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
from jaxinterest.clean.compare import (
    CompareConfig,
    Contender,
    balanced_sample,
    choose_threshold,
    compare,
    distinct_rows,
    score,
)
from jaxinterest.clean.events import check_inputs, class_weights, row_weights
from jaxinterest.clean.ngram import featurize, ngrams
from jaxinterest.clean.splits import (
    check_disjoint,
    group_ids,
    group_split,
    kind_out_splits,
    random_split,
)

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


# --- held-out splits, threshold, scores, comparison report, bad input -------------------------


def repeated_events(seed, n=3000):
    """Events whose texts repeat with Zipf popularity, like the world's: kept texts from topic
    pairs, noise texts of two kinds from small fixed lists. -> (raw texts, labels, kinds)."""
    rng = np.random.default_rng(seed)
    login = ["Facebook login", "bank login", "Gmail sign in", "paypal login", "outlook login"]
    nav = ["youtube", "www.amazon.com", "google", "Netflix", "reddit", "wikipedia"]
    raw, y, kinds = [], [], []
    zipf = 1.0 / np.arange(1, 46) ** 1.1
    for _ in range(n):
        u = rng.random()
        if u < 0.7:
            a, b = divmod(int(rng.choice(45, p=zipf / zipf.sum())), 9)
            raw.append(f"{TOPICS[a % 10]} {TOPICS[b]} news")
            y.append(1), kinds.append("interest")
        elif u < 0.85:
            raw.append(login[int(rng.integers(len(login)))] + ("" if rng.random() < 0.8 else "!"))
            y.append(0), kinds.append("login")
        else:
            raw.append(nav[int(rng.integers(len(nav)))].upper() if rng.random() < 0.2 else
                       nav[int(rng.integers(len(nav)))])  # fmt: skip
            y.append(0), kinds.append("navigational")
    return raw, np.array(y, np.int8), np.array(kinds)


def _key(text):
    """An independent text key: case, digits and punctuation ignored."""
    return " ".join(re.findall(r"[a-z0-9]+", re.sub(r"\d", "0", text.lower())))


def test_group_ids_join_case_punctuation_and_digits():
    g = group_ids(["Bank Login", "bank  login!", "Lottery 11", "lottery 27", "bank logout"])
    assert g[0] == g[1] and g[2] == g[3] and len(set(g.tolist())) == 3
    with pytest.raises(TypeError, match="row 1"):
        group_ids(["ok", None])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_text_disjoint_split_shares_no_text(seed):
    raw, y, _ = repeated_events(seed)
    rows = np.arange(len(raw))
    sp = group_split(rows, group_ids(raw), 0.25, seed)
    # Independent check: no key of a test text is the key of a training text.
    train_keys = {_key(raw[r]) for r in sp.train}
    assert not any(_key(raw[r]) in train_keys for r in sp.test)
    assert not {raw[r] for r in sp.train} & {raw[r] for r in sp.test}
    # A partition of the rows, test side near the asked share (one Zipf group may overshoot).
    assert sorted(np.concatenate([sp.train, sp.test]).tolist()) == rows.tolist()
    assert 0.2 <= len(sp.test) / len(rows) <= 0.45
    again = group_split(rows, group_ids(raw), 0.25, seed)
    np.testing.assert_array_equal(again.test, sp.test)  # deterministic by seed
    other = group_split(rows, group_ids(raw), 0.25, seed + 10)
    assert not np.array_equal(other.test, sp.test)


def test_random_split_leaks_and_the_guard_says_so():
    raw, _, _ = repeated_events(0)
    g = group_ids(raw)
    sp = random_split(np.arange(len(raw)), 0.25, 0)
    train_keys = {_key(raw[r]) for r in sp.train}
    assert np.mean([_key(raw[r]) in train_keys for r in sp.test]) > 0.9
    with pytest.raises(AssertionError, match="on both sides"):
        check_disjoint(sp, g)
    check_disjoint(group_split(np.arange(len(raw)), g, 0.25, 0), g)


def test_kind_out_holds_out_a_whole_noise_kind():
    raw, y, kinds = repeated_events(3)
    g = group_ids(raw)
    folds = kind_out_splits(np.arange(len(raw)), g, kinds, y, 0.25, 0)
    assert [f.name for f in folds] == ["kind_out:login", "kind_out:navigational"]
    for f, held in zip(folds, ["login", "navigational"], strict=True):
        assert set(np.flatnonzero(kinds == held)) <= set(f.test.tolist())
        assert held not in set(kinds[f.train].tolist())
        assert set(kinds[f.test][y[f.test] == 0].tolist()) == {held}
        assert not {_key(raw[r]) for r in f.train} & {_key(raw[r]) for r in f.test}
        assert len(f.train) + len(f.test) + f.dropped == len(raw)


def test_choose_threshold_reaches_the_best_noise_f1():
    rng = np.random.default_rng(5)
    for _ in range(5):
        y = rng.integers(0, 2, 300)
        p = np.clip(0.3 * y + rng.random(300) * 0.8, 0, 1).round(2)  # ties on purpose

        def noise_f1(t, p=p, y=y):  # F1 of class 0, predicted noise iff p < t
            pn, tn = p < t, y == 0
            tp, fp, fn = (pn & tn).sum(), (pn & ~tn).sum(), (~pn & tn).sum()
            return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

        best = max(noise_f1(t) for t in np.concatenate([np.unique(p), [1.01]]))
        assert noise_f1(choose_threshold(p, y)) == pytest.approx(best)


def test_score_against_formulas():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    pred = np.array([1, 0, 0, 0, 1, 1, 0, 1])
    texts = np.array(["a", "b", "n", "n", "m", "a", "n", "c"], dtype=object)
    kinds = np.array(["i", "i", "x", "x", "y", "i", "x", "i"])
    s = score(y, pred, texts, kinds)
    # noise: tp = rows 2,3,6; fp = row 1; fn = row 4
    assert s["noise"]["precision"] == pytest.approx(3 / 4)
    assert s["noise"]["recall"] == pytest.approx(3 / 4)
    assert s["keep"]["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    # by text: distinct (text, label) n/0 (right), m/0 (wrong), b/1 (wrong: called noise)
    assert s["noise_by_text"]["precision"] == pytest.approx(1 / 2)
    assert s["noise_by_text"]["recall"] == pytest.approx(1 / 2)
    assert s["by_kind"]["x"] == {"n": 3, "accuracy": 1.0}
    assert sorted(s["top_errors"]) == [["b", 1, 1], ["m", 0, 1]]
    assert s["by_kind"]["i"]["accuracy"] == pytest.approx(3 / 4)
    assert distinct_rows(np.arange(8), list(texts), y).tolist() == [0, 1, 2, 4, 7]


def test_class_weights_and_balanced_sample():
    y = np.array([1] * 90 + [0] * 10)
    w = class_weights(y, "balanced")
    assert w[y == 0].sum() == pytest.approx(50) and w[y == 1].sum() == pytest.approx(50)
    assert (class_weights(y, "none") == 1).all()
    with pytest.raises(ValueError, match="class_weight"):
        class_weights(y, "auto")
    s = balanced_sample(np.arange(100), y, 30, np.random.default_rng(0))
    assert len(s) == 30 and (y[s] == 0).sum() == 10  # all of the small class, rest from the big
    s = balanced_sample(np.arange(100), y, 16, np.random.default_rng(0))
    assert (y[s] == 0).sum() == 8


@pytest.mark.parametrize(
    "texts,labels,match",
    [
        ([], [], "no labelled texts"),
        (["a", ""], [1, 0], "row 1: field 'text'"),
        (["a", "  "], [1, 0], "row 1: field 'text'"),
        (["a", None], [1, 0], "row 1: field 'text'"),
        (["a", "b"], [1, 2], "row 1: label 2"),
        (["a", "b"], [-1, 1], "row 0: label -1"),
        (["a", "b"], [1], "2 texts but 1 labels"),
    ],
)
def test_bad_training_input_is_named(texts, labels, match):
    with pytest.raises(ValueError, match=match):
        check_inputs(texts, labels)
    with pytest.raises(ValueError, match=match):
        train_classifier("ngram", texts, np.array(labels), NgramConfig(n_buckets=1 << 10))


def _data(raw, y, kinds):
    return {
        "texts": np.array([f"[search] {t}" for t in raw], dtype=object),
        "labels": y,
        "groups": group_ids(raw),
        "kinds": kinds,
    }


def test_compare_reports_every_contender_on_every_split():
    raw, y, kinds = repeated_events(7, n=1500)
    cfg = NgramConfig(n_buckets=1 << 12, epochs=3, class_weight="balanced")
    contenders = [Contender("a", "ngram", cfg, 0, "events"), Contender("b", "ngram", cfg, 60)]
    ccfg = CompareConfig(splits=("random", "text_disjoint", "kind_out"), max_eval_events=400)
    rep = compare(contenders, _data(raw, y, kinds), ccfg, train_classifier)
    names = ["random", "text_disjoint", "kind_out:login", "kind_out:navigational"]
    assert list(rep) == names + ["kind_out"]
    for n in names:
        for c in ("a", "b"):
            m = rep[n][c]
            assert {"keep", "noise", "noise_by_text", "threshold", "by_kind"} <= set(m)
            assert m["noise"]["n"] == min(400, rep[n]["n_test_events"])
        assert rep[n]["b"]["n_fit_rows"] <= 60 and rep[n]["a"]["n_fit_rows"] > 600
    assert rep["random"]["test_events_with_text_in_train"] > 0.9
    assert rep["text_disjoint"]["test_events_with_text_in_train"] == 0.0
    assert set(rep["kind_out"]) == {"a", "b"}
    with pytest.raises(ValueError, match="unknown split 'users'"):
        compare(contenders, _data(raw, y, kinds), CompareConfig(splits=("users",)), None)
    bad = _data(raw, y.copy(), kinds)
    bad["labels"][3] = 7
    with pytest.raises(ValueError, match="row 3: label 7"):
        compare(contenders, bad, ccfg, train_classifier)


def test_row_weights_scale_inside_each_class():
    y = np.array([1, 1, 1, 0, 0])
    w = row_weights(y, "none", sample_weight=[1.0, 2.0, 3.0, 1.0, 3.0])
    # within class 1: 1,2,3 / mean 2; within class 0: 1,3 / mean 2
    np.testing.assert_allclose(w, [0.5, 1.0, 1.5, 0.5, 1.5])
    wb = row_weights(y, "balanced", sample_weight=[1.0, 2.0, 3.0, 1.0, 3.0])
    assert wb[:3].sum() == pytest.approx(2.5) and wb[3:].sum() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="sample_weight"):
        row_weights(y, "none", sample_weight=[1.0, 0.0, 1.0, 1.0, 1.0])


def test_clean_command_reports_splits_on_a_world(tmp_path):
    import argparse

    from jaxinterest.commands import clean as cmd
    from jaxinterest.data.world import generate_world, make_config

    world = tmp_path / "w"
    generate_world(make_config("tiny", n_users=60, n_news=800, seed=3), world, progress=False)
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    args = parser.parse_args(
        ["clean", "--train", str(world), "--out", str(tmp_path / "m"), "--model", "ngram"]
    )
    rep = cmd.train(args)
    assert set(rep["splits"]) == {"random", "text_disjoint"}
    assert rep["splits"]["text_disjoint"]["test_events_with_text_in_train"] == 0.0
    assert rep["splits"]["random"]["test_events_with_text_in_train"] > 0.5
    for split in rep["splits"].values():
        assert split["ngram"]["noise"]["n"] == min(5000, split["n_test_events"])
    assert load_classifier(tmp_path / "m").threshold == rep["saved"]["threshold"]
    only = parser.parse_args(
        ["clean", "--train", str(world), "--out", str(tmp_path / "c"), "--model", "ngram",
         "--compare-only", "--splits", "text_disjoint"]
    )  # fmt: skip
    assert set(cmd.train(only)["splits"]) == {"text_disjoint"}
    assert (tmp_path / "c" / "report.json").is_file()
    assert not (tmp_path / "c" / "classifier.json").exists()
    # an event with an empty text is refused, naming its row and id
    import pyarrow.parquet as pq

    ev = pq.read_table(world / "events.parquet")
    texts = ev.column("text").to_pylist()
    texts[4] = "  "
    i = ev.schema.get_field_index("text")
    pq.write_table(ev.set_column(i, "text", pa.array(texts)), world / "events.parquet")
    with pytest.raises(ValueError, match="events row 4 .*field 'text'"):
        cmd.train(args)
