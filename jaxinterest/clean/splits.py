"""Held-out splits for the noise classifiers: random, text-disjoint, template-disjoint and
leave-one-kind-out.

A random event split scores memorisation: the world repeats strings ("facebook login",
"[browse] Google <https://www.google.com/>") across users, so most held-out events have an exact
twin in training and a lookup table scores F1 ~1. The text-disjoint split groups events by
their normalised text and puts each group wholly on one side (GroupKFold-like, seeded), so
every held-out text is new to the classifier. Leave-one-kind-out also holds out a whole noise
kind (all navigational events, say), which asks whether a classifier recognises a kind of
noise it was never shown. Template-disjoint sits between the two: every kind stays in
training, but whole phrasing families of each kind (the world writes each kind several ways, in
disjoint words; `data/noise_vocab.py`) go to the test side, so a held-out noise string means
what training noise of its kind means and uses none of its words.

A split is a pair of row-index arrays (train, test) into one events table; rows on neither side
(kind-out: training rows whose text also occurs in the test side) are counted, not hidden.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import numpy as np

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_DIGIT = re.compile(r"[0-9]")


def normalise_text(text: str) -> str:
    """Grouping key of one behaviour text: NFKC, lower case, every digit -> 0, runs of anything
    else than [0-9a-z] -> one space. Masking digits puts "Lottery numbers for November 11" and
    "... 27" (and all phone numbers of one format) in the same group: near-twins are leaks too.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} ({text!r:.40})")
    t = unicodedata.normalize("NFKC", text).lower()
    return _NON_ALNUM.sub(" ", _DIGIT.sub("0", t)).strip()


def group_ids(texts) -> np.ndarray:
    """int64 [N]: events with the same normalised text share an id (ids 0.. in first-seen order)."""
    seen: dict[str, int] = {}
    out = np.empty(len(texts), np.int64)
    for i, t in enumerate(texts):
        try:
            out[i] = seen.setdefault(normalise_text(t), len(seen))
        except TypeError as err:
            raise TypeError(f"events row {i}: field 'text': {err}") from None
    return out


@dataclasses.dataclass(frozen=True)
class Split:
    """Row indices (sorted int64) of one held-out split; `dropped` rows are on neither side."""

    name: str
    train: np.ndarray
    test: np.ndarray
    dropped: int = 0


def _check_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")


def random_split(rows: np.ndarray, test_fraction: float, seed: int, name="random") -> Split:
    """Events drawn at random (the leaky baseline split)."""
    _check_fraction(test_fraction)
    rows = np.asarray(rows, np.int64)
    rng = np.random.default_rng([seed, 1])
    is_test = rng.random(len(rows)) < test_fraction
    return Split(name, np.sort(rows[~is_test]), np.sort(rows[is_test]))


def group_split(
    rows: np.ndarray, groups: np.ndarray, test_fraction: float, seed: int, name="text_disjoint"
) -> Split:
    """Whole groups to one side: groups are shuffled (seeded) and taken into the test side until
    it holds `test_fraction` of the events, so no group (normalised text) is on both sides.

    rows: event rows to split [R]; groups: group id of every event of the table [N].
    """
    _check_fraction(test_fraction)
    rows = np.asarray(rows, np.int64)
    g = np.asarray(groups)[rows]
    uniq, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    order = np.random.default_rng([seed, 2]).permutation(len(uniq))
    # Test groups: the shortest shuffled prefix holding >= test_fraction of the events.
    take = np.searchsorted(np.cumsum(counts[order]), test_fraction * len(rows)) + 1
    is_test_group = np.zeros(len(uniq), bool)
    is_test_group[order[: min(take, len(uniq) - 1)]] = True  # keep >= 1 group for training
    is_test = is_test_group[inverse]
    return Split(name, np.sort(rows[~is_test]), np.sort(rows[is_test]))


def kind_out_splits(
    rows: np.ndarray,
    groups: np.ndarray,
    kinds: np.ndarray,
    labels: np.ndarray,
    test_fraction: float,
    seed: int,
) -> list[Split]:
    """One split per noise kind K (a kind with any label-0 event): test = every event of kind K
    plus the kept (label 1) events of the text-disjoint test side; train = all other rows minus
    any whose group (normalised text) occurs in the test side. Named "kind_out:K".
    """
    rows = np.asarray(rows, np.int64)
    kinds, labels, groups = np.asarray(kinds), np.asarray(labels), np.asarray(groups)
    base = group_split(rows, groups, test_fraction, seed)
    keep_test = base.test[labels[base.test] == 1]
    noise_kinds = sorted(set(kinds[rows][labels[rows] == 0].tolist()))
    out = []
    for k in noise_kinds:
        test = np.union1d(keep_test, rows[(kinds[rows] == k) & (labels[rows] == 0)])
        rest = np.setdiff1d(rows, test)
        clash = np.isin(groups[rest], groups[test])
        out.append(Split(f"kind_out:{k}", rest[~clash], test, int(clash.sum())))
    return out


def check_disjoint(split: Split, groups: np.ndarray) -> None:
    """Raise if any group id is on both sides of the split (a cheap guard before scoring)."""
    both = np.intersect1d(np.asarray(groups)[split.train], np.asarray(groups)[split.test])
    if len(both):
        raise AssertionError(f"split {split.name}: {len(both)} texts on both sides")


def template_split(
    rows: np.ndarray,
    groups: np.ndarray,
    kinds: np.ndarray,
    labels: np.ndarray,
    phrasings: np.ndarray,
    test_fraction: float,
    seed: int,
) -> Split:
    """Hold out whole phrasing families: per noise kind with >= 2 families, a seeded
    round(test_fraction x families) of them (at least 1, at most all but 1) go to the test
    side with every one of their events, and so do the kept (label 1) events of the
    text-disjoint test side; train = all other rows minus any whose normalised text occurs on
    the test side (counted in `dropped`). Kinds with one family stay wholly in training.

    phrasings: "<kind>/<family>" per event of the table (the world's noise labels record it),
    "" or None for kept events. Named "template_disjoint".
    """
    rows = np.asarray(rows, np.int64)
    kinds, labels, groups = np.asarray(kinds), np.asarray(labels), np.asarray(groups)
    phr = np.array(["" if p is None else str(p) for p in np.asarray(phrasings, object)[rows]])
    noise = labels[rows] == 0
    missing = np.flatnonzero(noise & (phr == ""))
    if len(missing):
        raise ValueError(
            f"template_disjoint: noise event at row {int(rows[missing[0]])} has no phrasing "
            f"family ({len(missing)} such); the split needs the 'phrasing' column of the "
            "world's oracle/noise_labels.parquet"
        )
    rng = np.random.default_rng([seed, 3])
    held = []
    for k in sorted(set(kinds[rows][noise].tolist())):
        fams = sorted(set(phr[noise & (kinds[rows] == k)].tolist()))
        if len(fams) < 2:
            continue
        n_out = min(len(fams) - 1, max(1, round(test_fraction * len(fams))))
        held += [fams[i] for i in rng.permutation(len(fams))[:n_out]]
    base = group_split(rows, groups, test_fraction, seed)
    keep_test = base.test[labels[base.test] == 1]
    test = np.union1d(keep_test, rows[noise & np.isin(phr, held)])
    rest = np.setdiff1d(rows, test)
    clash = np.isin(groups[rest], groups[test])
    return Split("template_disjoint", rest[~clash], test, int(clash.sum()))


def held_out_families(split: Split, labels: np.ndarray, phrasings) -> list[str]:
    """Phrasing families with noise events on the test side of a template split, sorted."""
    phr = np.asarray(phrasings, object)[split.test]
    return sorted({str(p) for p, y in zip(phr, labels[split.test], strict=True) if y == 0})
