"""The rewards' caches: the text-vector LRU, the article-index cache and the judge cache."""

import numpy as np
import pytest

from jaxinterest.retrieval import build_index, retrieve
from jaxinterest.rewards.judge_cache import JudgeCache, cache_key
from jaxinterest.rewards.lru import LRU
from jaxinterest.rewards.news_cache import load_news, news_key, save_news
from jaxinterest.rewards.text_vectors import TextVectors


def test_text_vectors_titles_lru_and_eviction():
    titles = np.eye(3, dtype=np.float32)
    tv = TextVectors({"t0": 0, "t2": 2}, titles, size=2)
    have, todo = tv.lookup(["t2", "a", "b", "a"])
    assert list(have) == ["t2"] and todo == ["a", "b"]  # distinct, in order
    tv.store(["a", "b"], np.ones((2, 3), np.float32) * [[1], [2]])
    assert tv.lookup(["a"])[0]["a"][0] == 1  # "a" is now the most recent
    tv.store(["c"], np.zeros((1, 3), np.float32))  # evicts the least recent: "b"
    have, todo = tv.lookup(["a", "b", "c", "t0"])
    assert set(have) == {"a", "c", "t0"} and todo == ["b"] and len(tv) == 2
    off = TextVectors({}, titles, size=0)
    off.store(["a"], np.ones((1, 3), np.float32))
    assert len(off) == 0


def test_lru_drops_the_least_recently_used_and_in_does_not_refresh():
    lru = LRU(2)
    lru["a"], lru["b"] = 1, 2
    assert lru.get("a") == 1  # "a" is now the most recent
    assert "b" in lru  # membership does not refresh "b"
    lru["c"] = 3  # evicts "b"
    assert "b" not in lru and lru["a"] == 1 and lru["c"] == 3 and len(lru) == 2
    lru["a"] = 10  # overwrite refreshes "a"; the next insert evicts "c"
    lru["d"] = 4
    assert sorted(lru.data) == ["a", "d"] and lru["a"] == 10
    assert lru.get("zz", "miss") == "miss"
    with pytest.raises(KeyError):
        lru["zz"]
    off = LRU(0)
    off["a"] = 1
    assert len(off) == 0 and off.get("a") is None
    with pytest.raises(ValueError, match="size"):
        LRU(-1)


def test_news_cache_hits_only_on_the_same_key(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"N{i}" for i in range(50)]
    index = build_index(ids, x, kind="flat")
    key = news_key(ids, [f"title {i}" for i in ids], "flat", "enc")
    assert load_news(tmp_path, key) is None
    save_news(tmp_path, key, index, x)
    got, vecs = load_news(tmp_path, key)
    np.testing.assert_array_equal(vecs, x)
    assert (retrieve(got, x[:3], 2)[0] == retrieve(index, x[:3], 2)[0]).all()
    changed = news_key(ids, [f"title {i}" for i in ids[:-1]] + ["edited"], "flat", "enc")
    assert load_news(tmp_path, changed) is None
    assert news_key(ids, ids, "flat", "enc") != news_key(ids, ids, "ivfpq", "enc")


def test_news_cache_misses_after_embed_changes_its_bits(monkeypatch):
    # vectors of another embed batching differ in the last bits: never mix them with new ones
    import jaxinterest.embed

    ids = ["N1", "N2"]
    before = news_key(ids, ids, "flat", "enc")
    monkeypatch.setattr(jaxinterest.embed, "LAYOUT_VERSION", jaxinterest.embed.LAYOUT_VERSION + 1)
    assert news_key(ids, ids, "flat", "enc") != before


def test_judge_cache_persists_and_names_a_bad_file(tmp_path):
    path = tmp_path / "j.sqlite"
    key = cache_key("m", [{"role": "user", "content": "x"}])
    assert key != cache_key("m2", [{"role": "user", "content": "x"}])
    JudgeCache(path).put(key, "m", "answer")
    again = JudgeCache(path)
    assert again.get(key) == "answer" and again.get("other") is None and len(again) == 1
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="bad.sqlite"):
        JudgeCache(bad)
