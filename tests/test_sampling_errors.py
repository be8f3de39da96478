"""Bad input to `generate` / `SamplingParams` fails with an error naming the problem."""

import jax
import numpy as np
import pytest

from jaxinterest.models.qwen2 import init_params
from jaxinterest.sampling import SamplingMode, SamplingParams, generate
from tests.qwen2_helpers import tiny_config

CFG = tiny_config(vocab_size=100, num_layers=1, max_position_embeddings=64)


@pytest.fixture(scope="module")
def params():
    return init_params(CFG, jax.random.key(0))


GOOD = [[1, 2, 3], [4, 5]]


@pytest.mark.parametrize(
    "prompts,options,kwargs,match",
    [
        ([], {}, {}, "prompt list is empty"),
        ([[1, 2], []], {}, {}, "prompt 1 is empty"),
        ("hello", {}, {}, "list of token-id lists"),
        (["hello"], {}, {}, "prompt 0 is a string"),
        ([[1.5, 2]], {}, {}, "prompt 0 is not a flat list of integer"),
        ([[1, 2], [3, 100]], {}, {}, "prompt 1 has token ids outside \\[0, 100\\)"),
        ([[1] * 60], {"max_new_tokens": 5}, {}, "prompt 0 has 60 tokens.*context of 64"),
        ([[1], [2] * 20], {"max_new_tokens": 5}, {"max_len": 24}, "prompt 1 has 20 tokens"),
        (GOOD, {}, {"key": None}, "needs a PRNG key"),
        (GOOD, {"stop_ids": (100,)}, {}, "stop_ids \\[100\\] are outside the vocabulary"),
        (GOOD, {}, {"pad_id": -1}, "pad_id=-1 is outside the vocabulary"),
    ],
)
def test_bad_input_is_rejected(params, prompts, options, kwargs, match):
    sampling = SamplingParams(**({"max_new_tokens": 4} | options))
    with pytest.raises(ValueError, match=match):
        generate(params, CFG, prompts, sampling, **({"key": jax.random.key(0)} | kwargs))


def test_options_must_be_sampling_params(params):
    with pytest.raises(ValueError, match="sampling must be a SamplingParams, got dict"):
        generate(params, CFG, GOOD, {"max_new_tokens": 4}, key=jax.random.key(0))


@pytest.mark.parametrize(
    "options,match",
    [
        ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
        ({"max_new_tokens": -3}, "max_new_tokens must be a positive integer"),
        ({"max_new_tokens": 2.0}, "max_new_tokens must be a positive integer"),
        ({"num_samples": 0}, "num_samples must be a positive integer"),
        ({"num_samples": True}, "num_samples must be a positive integer"),
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"temperature": float("nan")}, "temperature must be >= 0"),
        ({"temperature": "0.5"}, "temperature must be >= 0"),
        ({"top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
        ({"top_p": 1.5}, "top_p must be in \\(0, 1\\]"),
        ({"top_k": -1}, "top_k must be an integer >= 0"),
        ({"top_k": 2.5}, "top_k must be an integer >= 0"),
        ({"stop_ids": "2"}, "stop_ids must be a sequence of integer token ids"),
        ({"stop_ids": (1, 2.5)}, "stop_ids must be a sequence of integer token ids"),
    ],
)
def test_bad_sampling_params_are_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        SamplingParams(**({"max_new_tokens": 4} | options))


def test_sampling_params_normalise_compare_and_hash():
    a = SamplingParams(np.int64(8), temperature=np.float32(0.5), stop_ids=[7, np.int32(3), 7])
    b = SamplingParams(8, temperature=0.5, stop_ids=(3, 7))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a.stop_ids == (3, 7) and type(a.max_new_tokens) is int
    assert type(a.temperature) is float and SamplingParams(4, stop_ids=None).stop_ids == ()
    with pytest.raises(AttributeError):
        a.temperature = 1.0  # frozen


@pytest.mark.parametrize(
    "options,mode",
    [
        ({"temperature": 0.0, "top_k": 5, "top_p": 0.5}, SamplingMode(greedy=True)),
        ({"top_k": 5, "top_p": 0.5}, SamplingMode(top_k=5, use_top_p=True)),
        ({"top_k": 100}, SamplingMode()),  # top_k >= V keeps everything
        ({"top_k": 99, "top_p": 1.0}, SamplingMode(top_k=99)),
    ],
)
def test_mode_switches_off_filters_that_cannot_act(options, mode):
    assert SamplingParams(4, **options).mode(CFG.vocab_size) == mode


def test_top_k_at_least_vocab_and_no_stop_ids_are_accepted(params):
    """top_k >= V keeps every token (same as off); no stop ids means no row ends early."""
    key = jax.random.key(1)
    off = generate(params, CFG, GOOD, SamplingParams(3, temperature=0.9), key=key)
    full_k = SamplingParams(3, temperature=0.9, top_k=CFG.vocab_size + 5, stop_ids=None)
    assert (off.tokens == generate(params, CFG, GOOD, full_k, key=key).tokens).all()
    assert (off.lengths == 3).all()
