"""all-MiniLM-L6-v2 through `embed` vs sentence-transformers, plus embed's input handling."""

import numpy as np
import pytest

from jaxinterest import embed as embed_module
from jaxinterest.embed import default_encoder, embed
from jaxinterest.models.encoder import default_model_path

TEXTS = [
    "Fed raises interest rates by a quarter point",
    "",
    "   ",
    "a",
    "Ünïcödé naïve café — “quotes”, emoji 😀🚀 and 日本語のニュース 한국어",
    "Ελληνικά και русский текст in one headline",
    "word " * 300,  # ~300 tokens: truncated at 256
    "A long abstract. " * 60,
    "x" * 100_000,  # one 100k-character token run
    "news " * 20_000,  # 100k characters of words
    "UPPER lower MiXeD 12345 3.14 $100 @user #tag https://example.com/a?b=c",
    "\t\nnewlines\r\nand\ttabs\x00control",
]


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(default_model_path()), device="cpu")
    assert st.max_seq_length == 256
    return st


def test_matches_sentence_transformers(reference):
    ref = reference.encode(TEXTS, batch_size=4, convert_to_numpy=True)
    ours = embed(TEXTS, batch_size=4)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_truncation_matches_reference_at_shorter_max_length(reference):
    texts = ["word " * 100, "short title"]
    old = reference.max_seq_length
    reference.max_seq_length = 32
    try:
        ref = reference.encode(texts, convert_to_numpy=True)
    finally:
        reference.max_seq_length = old
    np.testing.assert_allclose(embed(texts, max_length=32), ref, atol=1e-5, rtol=0)


def test_order_and_batching_do_not_change_results():
    rng = np.random.default_rng(0)
    words = ["market", "storm", "election", "goal", "vaccine", "chip", "rocket", "film"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 40))) for _ in range(37)]
    together = embed(texts, batch_size=8)
    alone = np.stack([embed([t])[0] for t in texts[:6]])
    np.testing.assert_allclose(together[:6], alone, atol=1e-5, rtol=0)
    np.testing.assert_allclose(embed(texts[::-1], batch_size=16)[::-1], together, atol=1e-5)


def test_bucketing_bounds_compiled_shapes():
    before = embed_module._embed_jit._cache_size()
    texts = ["tok " * n for n in range(0, 120)]  # 120 distinct lengths
    embed(texts, batch_size=16)
    # lengths bucket to {8, 16, 32, 64, 128}; rows to {8, 16}: at most 10 new programs
    assert embed_module._embed_jit._cache_size() - before <= 10


def test_empty_and_bad_input():
    dim = default_encoder().dim
    out = embed([])
    assert out.shape == (0, dim) and out.dtype == np.float32
    with pytest.raises(TypeError, match=r"texts\[2\] is int"):
        embed(["a", "b", 3])
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        embed([None])
    with pytest.raises(TypeError, match="single string"):
        embed("a headline")
    with pytest.raises(ValueError, match="batch_size"):
        embed(["a"], batch_size=0)
