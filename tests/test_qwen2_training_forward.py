"""The training forward (no KV cache: norm weights folded into the kernels, gate and up as one
matmul with `swiglu`'s own VJP) against the cached forward, which keeps the plain layer: the
same hidden states and, in float64, the same gradients for every parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import default_positions, forward_with_cache, hidden_states
from jaxinterest.models.qwen2.model import init_cache, swiglu
from tests.qwen2_helpers import random_params, tiny_config


def _cached_hidden(params, tokens, mask, cfg):
    b, t = tokens.shape
    cache = init_cache(cfg, b, t, dtype=jax.tree.leaves(params)[0].dtype)
    positions, valid = default_positions(mask), mask.astype(bool)
    hidden, _ = forward_with_cache(params, tokens, cfg, cache, positions=positions,
                                   write_index=0, kv_valid=valid, return_hidden=True)  # fmt: skip
    return hidden


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False, "qkv_bias": True}])
def test_training_forward_matches_the_cached_forward_and_its_gradients(overrides):
    cfg = tiny_config(**overrides)
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.integers(1, cfg.vocab_size, (3, 11)), jnp.int32)
    mask = jnp.asarray(np.arange(11)[None, :] >= np.array([[0], [3], [6]]), jnp.int32)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), random_params(cfg, seed=1))
        w = jnp.asarray(rng.normal(0, 1, (*tokens.shape, cfg.hidden_size)), jnp.float64)
        w = w * mask[..., None]  # padding positions carry no loss

        def loss(fn):
            return jax.jit(jax.value_and_grad(lambda p: jnp.sum(w * jnp.sin(fn(p)))))

        ours = lambda p: hidden_states(p, tokens, cfg, attention_mask=mask)  # noqa: E731
        ref = lambda p: _cached_hidden(p, tokens, mask, cfg)  # noqa: E731
        (v1, g1), (v2, g2) = loss(ours)(params), loss(ref)(params)
        np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
        paths = jax.tree_util.tree_flatten_with_path(g2)[0]
        for (path, want), got in zip(paths, jax.tree.leaves(g1), strict=True):
            if "lm_head" not in jax.tree_util.keystr(path):  # the head is not in hidden states
                assert float(jnp.abs(want).max()) > 0, jax.tree_util.keystr(path)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-9, atol=1e-13,
                                       err_msg=jax.tree_util.keystr(path))  # fmt: skip
    p32 = random_params(cfg, seed=1)
    real = np.asarray(mask, bool)
    np.testing.assert_allclose(np.asarray(ours(p32))[real], np.asarray(ref(p32))[real], atol=2e-6)


def test_swiglu_vjp_matches_autodiff():
    with jax.enable_x64(True):
        x = jnp.asarray(np.random.default_rng(2).normal(0, 3, (4, 5, 14)), jnp.float64)
        g = jnp.asarray(np.random.default_rng(3).normal(0, 1, (4, 5, 7)), jnp.float64)

        def plain(x):
            return jax.nn.silu(x[..., :7]) * x[..., 7:]

        np.testing.assert_allclose(np.asarray(swiglu(x)), np.asarray(plain(x)), rtol=1e-15)
        got = jax.vjp(swiglu, x)[1](g)[0]
        want = jax.vjp(plain, x)[1](g)[0]
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-15)
