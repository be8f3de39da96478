"""Generation with params sharded on 8 simulated devices equals unsharded generation."""

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding

from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import param_axes
from jaxinterest.sampling import SamplingParams, generate
from tests.qwen2_helpers import random_params, tiny_config

CFG = tiny_config(vocab_size=300, max_position_embeddings=128)
PROMPTS = [[5, 9, 2], [7] * 11, [1, 2, 3, 4, 5, 6], [250, 3]]


@pytest.fixture(scope="module")
def params():
    return random_params(CFG, seed=5, scale=0.25)


@pytest.fixture(scope="module")
def reference(params):
    sp = SamplingParams(max_new_tokens=6, num_samples=3, temperature=0.8, top_p=0.9)
    kw = dict(key=jax.random.key(1))
    return (sp, kw), generate(params, CFG, PROMPTS, sp, **kw)


@pytest.mark.parametrize("rules,mesh_shape", [("dp", (8, 1, 1)), ("fsdp_tp", (2, 2, 2))])
def test_sharded_generation_equals_unsharded(params, reference, rules, mesh_shape):
    assert jax.device_count() == 8
    (sp, kw), want = reference
    mesh = shd.make_mesh(mesh_shape)
    sharded = shd.shard_params(params, param_axes(CFG), mesh, shd.get_rules(rules))
    assert isinstance(jax.tree.leaves(sharded)[0].sharding, NamedSharding)
    got = generate(sharded, CFG, PROMPTS, sp, rules=rules, **kw)
    np.testing.assert_array_equal(got.tokens, want.tokens)
    np.testing.assert_array_equal(got.lengths, want.lengths)
    assert np.abs(got.logprobs - want.logprobs).max() <= 1e-5
    assert np.abs(got.logprobs_raw - want.logprobs_raw).max() <= 1e-5
