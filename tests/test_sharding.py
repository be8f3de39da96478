"""forward under every sharding rule set on 8 simulated CPU devices equals one device."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import forward, load_hf, param_axes, save_hf
from tests.qwen2_helpers import random_params, tiny_config

CFG = tiny_config(num_heads=4, num_kv_heads=2, vocab_size=256)


@pytest.fixture(scope="module")
def setup():
    assert jax.device_count() == 8, "tests/conftest.py should give 8 simulated devices"
    params = random_params(CFG, seed=4)
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, CFG.vocab_size, (8, 12)))
    ref = np.asarray(forward(params, tokens, CFG))
    return params, tokens, ref


@pytest.mark.parametrize(
    "rules,mesh_shape", [("dp", (8, 1, 1)), ("fsdp", (2, 4, 1)), ("fsdp_tp", (2, 2, 2))]
)
def test_sharded_forward_equals_single_device(setup, rules, mesh_shape):
    params, tokens, ref = setup
    mesh = shd.make_mesh(mesh_shape)
    r = shd.get_rules(rules)
    sharded = shd.shard_params(params, param_axes(CFG), mesh, r)
    if rules != "dp":  # the weights really are split, not replicated
        assert sharded["layers"]["q"]["kernel"].sharding.spec != PartitionSpec()
    tok = jax.device_put(tokens, shd.batch_sharding(mesh, r, batch_size=tokens.shape[0]))
    out = jax.jit(forward, static_argnums=2)(sharded, tok, CFG)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-5, rtol=0)


def test_load_hf_straight_to_shards(setup, tmp_path):
    params, tokens, ref = setup
    save_hf(tmp_path, CFG, params)
    mesh = shd.make_mesh((2, 2, 2))
    _, loaded = load_hf(tmp_path, mesh=mesh, rules="fsdp_tp")
    q = loaded["layers"]["q"]["kernel"]
    assert q.sharding.spec == PartitionSpec(None, "fsdp", "tensor", None)
    # Each device holds a quarter of the q kernel, not a full copy.
    assert q.addressable_shards[0].data.size == q.size // 4
    out = jax.jit(forward, static_argnums=2)(loaded, tokens, CFG)
    np.testing.assert_allclose(np.asarray(out), ref, atol=1e-5, rtol=0)


def test_rules_refuse_collisions():
    with pytest.raises(ValueError, match="twice"):
        shd.logical_to_physical(("embed", "mlp"), {"embed": "fsdp", "mlp": "fsdp"})
    with pytest.raises(KeyError, match="fsdp_tp"):
        shd.get_rules("zero3")
    with pytest.raises(ValueError, match="does not cover"):
        shd.make_mesh((3, 1, 1))
