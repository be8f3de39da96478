"""Noise written by phrasing families: disjoint words per kind, labelled families, and wording
drawn apart from the stream the kept events come from."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from jaxinterest.data import noise, noise_vocab
from jaxinterest.data.noise_vocab import FAMILIES, family_words, n_families, words
from jaxinterest.data.world import generate_world, make_config

KINDS = (*FAMILIES, "daily")


@pytest.mark.parametrize("kind", KINDS)
def test_families_of_a_kind_share_no_content_word(kind):
    n = n_families(kind)
    assert n >= 3, kind
    for i in range(n):
        assert family_words(kind, i), (kind, i)
        for j in range(i + 1, n):
            shared = family_words(kind, i) & family_words(kind, j)
            assert not shared, f"{kind} families {i} and {j} share {sorted(shared)}"


def test_words_drop_slots_stopwords_and_digits():
    assert words("{E} tickets, schedule and prices | {S}") == {"tickets", "schedule", "prices"}
    assert words("https://www.{S}/login?next={Es}") == {"login", "next"}
    assert words("timer 10 minutes") == {"timer", "minutes"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise") / "tiny"
    generate_world(make_config("tiny", seed=5), out, progress=False)
    return out


def test_every_noise_event_names_its_family_and_kept_events_none(tiny):
    lab = pq.read_table(tiny / "oracle" / "noise_labels.parquet").to_pydict()
    seen = set()
    for keep, kind, phr in zip(lab["keep"], lab["kind"], lab["phrasing"], strict=True):
        if keep:
            assert phr is None
            continue
        k, f = phr.split("/")
        assert k == kind and 0 <= int(f) < n_families(kind), phr
        seen.add(phr)
    # every family of every kind is used on a 300-user world
    for kind in KINDS + ("phone", "random"):
        assert {f"{kind}/{f}" for f in range(n_families(kind))} <= seen, kind


def test_kept_events_do_not_depend_on_noise_wording(tiny, tmp_path, monkeypatch):
    """Reordering every kind's families changes the noise strings; the kept events (and the
    test clicks) must come out byte-identical: the wording has its own random stream."""
    rev = {k: tuple(reversed(v)) for k, v in FAMILIES.items()}
    monkeypatch.setattr(noise, "FAMILIES", rev)
    monkeypatch.setattr(noise_vocab, "FAMILIES", rev)
    generate_world(make_config("tiny", seed=5), tmp_path / "w", progress=False)
    a, b = pq.read_table(tiny / "events.parquet"), pq.read_table(tmp_path / "w" / "events.parquet")
    keep = pq.read_table(tiny / "oracle" / "noise_labels.parquet").column("keep").to_numpy()
    kept = np.flatnonzero(keep == 1)
    assert a.take(kept).equals(b.take(kept))
    noisy = np.flatnonzero((keep == 0) & (a.column("domain").to_numpy(False) != "click"))
    assert not a.take(noisy).column("text").equals(b.take(noisy).column("text"))
    for name in ("test_clicks.parquet", "users.parquet"):
        assert pq.read_table(tiny / name).equals(pq.read_table(tmp_path / "w" / name))
