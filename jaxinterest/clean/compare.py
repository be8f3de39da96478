"""Score several noise classifiers on the same held-out splits (random, text-disjoint, kind-out).

For every split and every contender: the training side is cut again, by group, into a fit part
and a validation part; the contender trains on distinct (text, label) pairs of the fit part
(optionally a class-balanced sample), its keep threshold is the one that maximises noise F1 on
the validation part, and only then is the test side scored. The test side is never seen before
scoring. Predictions are made once per distinct test text and broadcast to its events.

Metrics per contender: keep and noise P/R/F1 over test events (as they occur, so frequent
strings weigh more), noise P/R/F1 over distinct test texts (each string once), accuracy per
event kind, and the most frequent errors.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import numpy as np

from jaxinterest.clean.events import check_inputs, precision_recall_f1
from jaxinterest.clean.splits import (
    Split,
    group_split,
    held_out_families,
    kind_out_splits,
    random_split,
    template_split,
)

SPLITS = ("random", "text_disjoint", "template_disjoint", "kind_out")


@dataclasses.dataclass(frozen=True)
class Contender:
    """A classifier to compare: kind "ngram" | "encoder" and its config. fit_on "distinct":
    one row per distinct (text, label), at most max_train (0 = all; else a class-balanced
    seeded sample); "events": the training events as they occur, so frequent strings weigh
    more (at most max_train, a uniform seeded sample). count_weight "log" (distinct only):
    each distinct text weighs 1 + log(its number of training events) within its class."""

    name: str
    kind: str
    config: object = None
    max_train: int = 0
    fit_on: str = "distinct"
    count_weight: str = "none"


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    splits: tuple[str, ...] = ("random", "text_disjoint")
    test_fraction: float = 0.2
    val_fraction: float = 0.15  # of the training side, group-disjoint, for the threshold
    max_eval_events: int = 5000  # test events scored per split (seeded sample; 0 = all)
    seed: int = 0


def distinct_rows(rows, texts, labels) -> np.ndarray:
    """The first row of each distinct (text, label) pair among rows, sorted."""
    first: dict = {}
    for r in np.asarray(rows, np.int64).tolist():
        first.setdefault((texts[r], int(labels[r])), r)
    return np.array(sorted(first.values()), np.int64)


def _pair_counts(rows, texts, labels, of_rows) -> np.ndarray:
    """How many of `rows` carry the (text, label) pair of each row in of_rows: float [len]."""
    counts = Counter((texts[r], int(labels[r])) for r in np.asarray(rows).tolist())
    return np.array(
        [counts[(texts[r], int(labels[r]))] for r in np.asarray(of_rows).tolist()], float
    )


def balanced_sample(rows, labels, n: int, rng) -> np.ndarray:
    """At most n rows, half from each class where it has enough (the rest from the other)."""
    rows = np.asarray(rows, np.int64)
    if not n or len(rows) <= n:
        return rows
    pos, neg = rows[labels[rows] == 1], rows[labels[rows] == 0]
    n_neg = min(len(neg), max(n // 2, n - len(pos)))
    pick = [rng.choice(neg, n_neg, replace=False), rng.choice(pos, n - n_neg, replace=False)]
    return np.sort(np.concatenate(pick))


def choose_threshold(p_keep, labels) -> float:
    """Keep threshold t (keep iff p >= t) that maximises noise F1 on the given rows; ties go to
    the t nearest 0.5. Candidates: midpoints between sorted distinct scores, and 0.5."""
    p, y = np.asarray(p_keep, np.float64), np.asarray(labels)
    s = np.unique(p)
    cands = np.concatenate([[0.5], (s[1:] + s[:-1]) / 2, [s[0], np.nextafter(s[-1], 2.0)]])
    best, best_t = -1.0, 0.5
    for t in cands[np.argsort(np.abs(cands - 0.5), kind="stable")]:
        f1 = precision_recall_f1(y, (p >= t).astype(np.int8), positive=0)["f1"]
        if f1 > best + 1e-12:
            best, best_t = f1, float(t)
    return best_t


def _sample(rows, n, rng):
    return rows if not n or len(rows) <= n else np.sort(rng.choice(rows, n, replace=False))


def _proba_by_text(clf, texts_rows: np.ndarray) -> np.ndarray:
    """P(keep) per row, classifying each distinct text once."""
    uniq, inverse = np.unique(texts_rows.astype(str), return_inverse=True)
    return clf.predict_proba(uniq.tolist())[inverse]


def score(y, pred, texts_rows, kinds_rows) -> dict:
    """keep/noise P/R/F1 over events, noise P/R/F1 over distinct (text, label), accuracy/kind."""
    y, pred = np.asarray(y), np.asarray(pred)
    d = distinct_rows(np.arange(len(y)), list(texts_rows), y)
    by_kind = {}
    for k in sorted(set(kinds_rows.tolist())):
        m = kinds_rows == k
        by_kind[k] = {"n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean())}
    return {
        "keep": precision_recall_f1(y, pred, positive=1),
        "noise": precision_recall_f1(y, pred, positive=0),
        "noise_by_text": precision_recall_f1(y[d], pred[d], positive=0),
        "by_kind": by_kind,
        "top_errors": top_errors(y, pred, texts_rows),
    }


def top_errors(y, pred, texts_rows, n: int = 5) -> list:
    """The n most frequent wrongly classified (text, label) pairs: [[text, label, events]]."""
    wrong = Counter((t, int(a)) for t, a, b in zip(texts_rows, y, pred, strict=True) if a != b)
    return [[t, a, k] for (t, a), k in wrong.most_common(n)]


def fit_with_threshold(c: Contender, rows, data: dict, cfg: CompareConfig, train_fn):
    """Train contender c on the rows' fit part and set its keep threshold on their group-
    disjoint validation part. Returns (classifier with threshold, info dict)."""
    texts, y, groups = data["texts"], data["labels"], data["groups"]
    rng = np.random.default_rng([cfg.seed, 7])
    inner = group_split(rows, groups, cfg.val_fraction, cfg.seed + 1, name="val")
    if c.fit_on == "distinct":
        fit = balanced_sample(distinct_rows(inner.train, texts, y), y, c.max_train, rng)
    elif c.fit_on == "events":
        fit = _sample(inner.train, c.max_train, rng)
    else:
        raise ValueError(f"contender {c.name}: fit_on is {c.fit_on!r}, not distinct or events")
    if c.count_weight not in ("none", "log") or (
        c.count_weight == "log" and c.fit_on != "distinct"
    ):
        raise ValueError(f"contender {c.name}: count_weight {c.count_weight!r} with {c.fit_on!r}")
    sw = None
    if c.count_weight == "log":
        sw = 1.0 + np.log(_pair_counts(inner.train, texts, y, fit))
    t0 = time.perf_counter()
    clf, log = train_fn(c.kind, list(texts[fit]), y[fit], c.config, sample_weight=sw)
    train_s = time.perf_counter() - t0
    val = _sample(inner.test, cfg.max_eval_events, rng)
    p_val = _proba_by_text(clf, texts[val])
    threshold = choose_threshold(p_val, y[val])
    val_f1 = precision_recall_f1(y[val], (p_val >= threshold).astype(np.int8), positive=0)["f1"]
    info = {
        "fit_on": c.fit_on,
        "count_weight": c.count_weight,
        "n_fit_rows": int(len(fit)),
        "fit_noise_share": float((y[fit] == 0).mean()),
        "n_val_events": int(len(val)),
        "threshold": threshold,
        "val_noise_f1": val_f1,
        "train_seconds": round(train_s, 1),
        **log,
    }
    return dataclasses.replace(clf, threshold=threshold), info


def fit_and_score(c: Contender, split: Split, data: dict, cfg: CompareConfig, train_fn) -> dict:
    """fit_with_threshold on split.train, then score a seeded sample of split.test.
    data: texts (object [N]), labels [N], groups [N], kinds [N]."""
    clf, info = fit_with_threshold(c, split.train, data, cfg, train_fn)
    test = _sample(split.test, cfg.max_eval_events, np.random.default_rng([cfg.seed, 8]))
    t0 = time.perf_counter()
    pred = (_proba_by_text(clf, data["texts"][test]) >= clf.threshold).astype(np.int8)
    info["predict_seconds"] = round(time.perf_counter() - t0, 1)
    y = data["labels"][test]
    return {**info, **score(y, pred, data["texts"][test], data["kinds"][test])}


def _splits(name: str, rows, data, cfg: CompareConfig) -> list[Split]:
    if name == "random":
        return [random_split(rows, cfg.test_fraction, cfg.seed)]
    if name == "text_disjoint":
        return [group_split(rows, data["groups"], cfg.test_fraction, cfg.seed)]
    if name == "template_disjoint":
        if data.get("phrasings") is None:
            raise ValueError(
                "split template_disjoint needs each noise event's phrasing family: the "
                "labels have no 'phrasing' column (a world generated before it, or --labels)"
            )
        g, k, y, p = data["groups"], data["kinds"], data["labels"], data["phrasings"]
        return [template_split(rows, g, k, y, p, cfg.test_fraction, cfg.seed)]
    if name == "kind_out":
        g, k, y = data["groups"], data["kinds"], data["labels"]
        return kind_out_splits(rows, g, k, y, cfg.test_fraction, cfg.seed)
    raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")


def leak_share(split: Split, groups) -> float:
    """Share of test events whose normalised text also occurs on the training side."""
    seen = np.isin(groups[split.test], groups[split.train])
    return float(seen.mean()) if len(seen) else 0.0


def compare(contenders, data: dict, cfg: CompareConfig, train_fn, progress=False) -> dict:
    """{split name: {sizes, leak share, contender name: fit_and_score(...)}} over all labelled
    rows of `data` (texts, labels, groups, kinds; phrasings for template_disjoint); kind_out
    folds are keyed "kind_out:K" plus a "kind_out" summary of means."""
    from tqdm import tqdm

    check_inputs(list(data["texts"]), data["labels"])
    rows = np.arange(len(data["labels"]))
    todo = [s for name in cfg.splits for s in _splits(name, rows, data, cfg)]
    report = {}
    bar = tqdm(total=len(todo) * len(contenders), desc="compare", disable=not progress)
    for split in todo:
        entry = {
            "n_train_events": int(len(split.train)),
            "n_test_events": int(len(split.test)),
            "n_dropped_events": split.dropped,
            "test_noise_share": float((data["labels"][split.test] == 0).mean()),
            "test_events_with_text_in_train": leak_share(split, data["groups"]),
        }
        if split.name == "template_disjoint":
            entry["held_out_families"] = held_out_families(split, data["labels"], data["phrasings"])
        for c in contenders:
            bar.set_postfix(split=split.name, model=c.name)
            entry[c.name] = fit_and_score(c, split, data, cfg, train_fn)
            bar.update()
        report[split.name] = entry
    bar.close()
    folds = [k for k in report if k.startswith("kind_out:")]
    if folds:
        report["kind_out"] = {
            c.name: {
                f"mean_noise_{m}": float(np.mean([report[f][c.name]["noise"][m] for f in folds]))
                for m in ("precision", "recall", "f1")
            }
            for c in contenders
        }
    return report
