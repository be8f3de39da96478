"""Bad input to `generate` fails with an error naming the problem (and the prompt)."""

import jax
import pytest

from jaxinterest.models.qwen2 import init_params
from jaxinterest.sampling import generate
from tests.qwen2_helpers import tiny_config

CFG = tiny_config(vocab_size=100, num_layers=1, max_position_embeddings=64)


@pytest.fixture(scope="module")
def params():
    return init_params(CFG, jax.random.key(0))


GOOD = [[1, 2, 3], [4, 5]]


@pytest.mark.parametrize(
    "prompts,kwargs,match",
    [
        ([], {}, "prompt list is empty"),
        ([[1, 2], []], {}, "prompt 1 is empty"),
        ("hello", {}, "list of token-id lists"),
        (["hello"], {}, "prompt 0 is a string"),
        ([[1.5, 2]], {}, "prompt 0 is not a flat list of integer"),
        ([[1, 2], [3, 100]], {}, "prompt 1 has token ids outside \\[0, 100\\)"),
        ([[1] * 60], {"max_new_tokens": 5}, "prompt 0 has 60 tokens.*context of 64"),
        ([[1], [2] * 20], {"max_new_tokens": 5, "max_len": 24}, "prompt 1 has 20 tokens"),
        (GOOD, {"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
        (GOOD, {"max_new_tokens": -3}, "max_new_tokens must be a positive integer"),
        (GOOD, {"num_samples": 0}, "num_samples must be a positive integer"),
        (GOOD, {"temperature": -0.1}, "temperature must be >= 0"),
        (GOOD, {"temperature": float("nan")}, "temperature must be >= 0"),
        (GOOD, {"top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
        (GOOD, {"top_p": 1.5}, "top_p must be in \\(0, 1\\]"),
        (GOOD, {"top_k": -1}, "top_k must be an integer >= 0"),
        (GOOD, {"key": None}, "needs a PRNG key"),
        (GOOD, {"eos_ids": [100]}, "eos_ids \\[100\\] are outside the vocabulary"),
        (GOOD, {"pad_id": -1}, "pad_id=-1 is outside the vocabulary"),
    ],
)
def test_bad_input_is_rejected(params, prompts, kwargs, match):
    kw = {"max_new_tokens": 4, "key": jax.random.key(0)} | kwargs
    with pytest.raises(ValueError, match=match):
        generate(params, CFG, prompts, **kw)


def test_top_k_at_least_vocab_and_eos_none_are_accepted(params):
    """top_k >= V keeps every token (same as off); eos_ids=None means no stop token."""
    kw = dict(max_new_tokens=3, temperature=0.9, key=jax.random.key(1))
    off = generate(params, CFG, GOOD, **kw)
    full_k = generate(params, CFG, GOOD, top_k=CFG.vocab_size + 5, eos_ids=None, **kw)
    assert (off.tokens == full_k.tokens).all()
