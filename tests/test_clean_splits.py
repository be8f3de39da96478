"""Held-out splits and the keep threshold: the edges a mutation run found untested."""

import dataclasses

import numpy as np
import pytest

from jaxinterest.clean import CompareConfig, Contender, fit_with_threshold, group_split
from jaxinterest.clean.compare import choose_threshold
from jaxinterest.clean.events import precision_recall_f1


def test_a_score_equal_to_the_threshold_is_kept():
    """keep iff p >= t: with 0.5 a score itself, the row at 0.5 must count as kept for 0.5 to
    reach noise F1 1 (with p > t, 0.5 would lose to the midpoint 0.4)."""
    p, y = np.array([0.3, 0.5, 0.9]), np.array([0, 1, 1])
    t = choose_threshold(p, y)
    assert t == 0.5
    assert precision_recall_f1(y, (p >= t).astype(np.int8), positive=0)["f1"] == 1.0
    # The lowest score as the cut keeps everything, that row included.
    assert choose_threshold(np.array([0.7, 0.8]), np.array([1, 1])) == 0.5


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_group_split_takes_the_shortest_prefix_reaching_its_fraction(seed, fraction):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 40, 400) ** 2 % 97  # uneven group sizes
    rows = np.sort(rng.choice(400, 300, replace=False))
    split = group_split(rows, groups, fraction, seed)
    assert len(split.train) + len(split.test) == len(rows)
    assert not set(groups[split.train]) & set(groups[split.test])
    assert len(split.test) >= fraction * len(rows)
    # Shortest: dropping the biggest test group falls below the fraction.
    test_sizes = np.unique(groups[split.test], return_counts=True)[1]
    assert len(split.test) - test_sizes.max() < fraction * len(rows)


@dataclasses.dataclass(frozen=True)
class Constant:
    threshold: float = 0.5

    def predict_proba(self, texts):
        return np.full(len(texts), 0.5)


def test_the_validation_split_changes_with_the_seed():
    n = 400
    texts = np.array([f"text {i % 100}" for i in range(n)], dtype=object)
    data = {"texts": texts, "labels": np.arange(n) % 2, "groups": np.arange(n) % 100}
    seen = []

    def train_fn(kind, fit_texts, y, config, sample_weight=None):
        seen.append(frozenset(fit_texts))
        return Constant(), {}

    contender = Contender("c", "constant", fit_on="events")  # fit on every fit-part event
    for seed in (0, 0, 1, 2):
        fit_with_threshold(contender, np.arange(n), data, CompareConfig(seed=seed), train_fn)
    assert seen[0] == seen[1]  # deterministic per seed
    assert seen[0] != seen[2] and seen[0] != seen[3] and seen[2] != seen[3]


@pytest.fixture(scope="module")
def tiny_labelled(tmp_path_factory):
    """Rendered behaviours of a tiny world with their labels, kinds and phrasing families."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import group_ids, join_labels, render_behaviors
    from jaxinterest.data.io import load_world
    from jaxinterest.data.world import generate_world, make_config

    out = tmp_path_factory.mktemp("splits") / "tiny"
    generate_world(make_config("tiny", seed=2), out, progress=False)
    world = load_world(out)
    lab = pq.read_table(out / "oracle" / "noise_labels.parquet")
    return {
        "texts": np.array(render_behaviors(world.events), dtype=object),
        "labels": join_labels(world.events, lab),
        "groups": group_ids(world.events.column("text").to_pylist()),
        "kinds": np.array(lab.column("kind").to_pylist()),
        "phrasings": np.array([p or "" for p in lab.column("phrasing").to_pylist()], object),
    }


def _template_split(d, seed, fraction=0.2):
    from jaxinterest.clean import template_split

    rows = np.arange(len(d["labels"]))
    return template_split(
        rows, d["groups"], d["kinds"], d["labels"], d["phrasings"], fraction, seed
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_template_split_holds_out_words_training_noise_of_that_kind_never_uses(tiny_labelled, seed):
    """Per kind, no content word of a held-out family's phrasings (queries, titles, URLs;
    slot fills aside) occurs in any training-side noise behaviour of that kind."""
    from jaxinterest.clean.splits import check_disjoint, held_out_families
    from jaxinterest.data.noise_vocab import family_words, words

    d = tiny_labelled
    split = _template_split(d, seed)
    check_disjoint(split, d["groups"])
    held = held_out_families(split, d["labels"], d["phrasings"])
    kinds_held = {h.split("/")[0] for h in held}
    # every kind written by >= 3 families loses one, phone/random shapes included
    assert {"login", "utility", "transactional", "navigational", "daily"} <= kinds_held
    train_noise = split.train[d["labels"][split.train] == 0]
    assert not set(d["phrasings"][train_noise]) & set(held)  # whole families
    checked = 0
    for h in held:
        kind, fam = h.split("/")
        if kind in ("phone", "random"):
            continue  # shapes, no vocabulary
        train_words = set().union(
            *(words(t) for t in d["texts"][train_noise[d["kinds"][train_noise] == kind]])
        )
        leaked = family_words(kind, int(fam)) & train_words
        assert not leaked, f"{h}: {sorted(leaked)} also in training noise of kind {kind}"
        checked += 1
    assert checked >= 5
    # the test side: the held-out families' noise plus kept events only
    test_noise = split.test[d["labels"][split.test] == 0]
    assert set(d["phrasings"][test_noise]) == set(held)


def test_template_split_is_deterministic_per_seed(tiny_labelled):
    d = tiny_labelled
    a, b, c = (_template_split(d, s) for s in (0, 0, 1))
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)


def test_template_split_names_a_noise_event_without_a_family():
    from jaxinterest.clean import template_split

    labels = np.array([1, 0, 0, 0])
    phr = np.array(["", "login/0", "", "login/1"], object)
    kinds = np.array(["interest", "login", "login", "login"])
    with pytest.raises(ValueError, match="row 2 has no phrasing family"):
        template_split(np.arange(4), np.arange(4), kinds, labels, phr, 0.2, 0)


def test_compare_wires_the_template_split_and_names_missing_families(tiny_labelled):
    from jaxinterest.clean import compare

    def train_fn(kind, fit_texts, y, config, sample_weight=None):
        return Constant(), {}

    cfg = CompareConfig(splits=("template_disjoint",), max_eval_events=500)
    c = [Contender("c", "constant", fit_on="events", max_train=200)]
    entry = compare(c, tiny_labelled, cfg, train_fn)["template_disjoint"]
    assert entry["held_out_families"] and entry["test_events_with_text_in_train"] == 0.0
    # a constant score: the threshold that maximises noise F1 calls everything noise
    assert entry["c"]["noise"]["recall"] == 1.0
    with pytest.raises(ValueError, match="no 'phrasing' column"):
        compare(c, {**tiny_labelled, "phrasings": None}, cfg, train_fn)
