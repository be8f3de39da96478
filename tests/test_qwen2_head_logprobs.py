"""`head_logprobs_entropy` (the chunked LM head with its own VJP) against the log-softmax of
`logits_from_hidden` written out: values, and gradients of any mix of its two outputs with
respect to the hidden states and the head weight, tied and untied, with a ragged last chunk."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import logits_from_hidden
from jaxinterest.models.qwen2.logprobs import head_logprobs_entropy
from tests.qwen2_helpers import random_params, tiny_config


def _reference(params, hidden, tokens, cfg):
    lsm = jax.nn.log_softmax(logits_from_hidden(params, hidden, cfg), axis=-1)
    logp = jnp.take_along_axis(lsm, tokens[..., None], axis=-1)[..., 0]
    return logp, -jnp.sum(jnp.exp(lsm) * lsm, axis=-1)


def _inputs(cfg, seed=0, rows=3, width=7):
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), random_params(cfg, seed))
        # scale 3: logits spread over tens of nats, so some probabilities underflow in float32
        hidden = jnp.asarray(rng.normal(0, 3, (rows, width, cfg.hidden_size)), jnp.float64)
    tokens = jnp.asarray(rng.integers(0, cfg.vocab_size, (rows, width)), jnp.int32)
    return params, hidden, tokens


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("chunk", [4, 21, 64])  # 21 rows: one chunk exactly; 4: a ragged last
def test_values_and_gradients_match_the_log_softmax(tied, chunk):
    cfg = tiny_config(tie_embeddings=tied)
    with jax.enable_x64(True):
        params, hidden, tokens = _inputs(cfg)
        w = jnp.asarray(np.random.default_rng(9).normal(0, 1, tokens.shape), jnp.float64)

        def loss(fn, a, b):  # a * sum(w logp) + b * sum(entropy): both cotangents, or one
            def f(params, hidden):
                logp, entropy = fn(params, hidden)
                return a * jnp.sum(w * logp) + b * jnp.sum(jnp.sin(entropy))

            return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))

        ours = lambda p, h: head_logprobs_entropy(p, h, tokens, cfg, chunk=chunk)  # noqa: E731
        ref = lambda p, h: _reference(p, h, tokens, cfg)  # noqa: E731
        got, want = jax.jit(ours)(params, hidden), jax.jit(ref)(params, hidden)
        for g, r in zip(got, want, strict=True):
            assert g.dtype == jnp.float64 and g.shape == tokens.shape
            np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-12, atol=1e-12)
        for a, b in ((1.0, 0.0), (0.0, 1.0), (1.0, 0.5)):
            (v1, g1), (v2, g2) = loss(ours, a, b)(params, hidden), loss(ref, a, b)(params, hidden)
            np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
            for x, y in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-9, atol=1e-12)
            head = g1[0]["embed" if tied else "lm_head"]
            assert float(jnp.abs(jax.tree.leaves(head)[0]).sum()) > 0


def test_float32_agrees_with_the_log_softmax_where_probabilities_underflow():
    cfg = tiny_config()
    params, hidden, tokens = _inputs(cfg, seed=3)
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    hidden = jnp.asarray(hidden, jnp.float32) * 10  # most of the vocabulary at p = 0 in float32
    got = jax.jit(lambda p, h: head_logprobs_entropy(p, h, tokens, cfg, chunk=8))(params, hidden)
    want = jax.jit(lambda p, h: _reference(p, h, tokens, cfg))(params, hidden)
    grad = jax.jit(
        jax.grad(lambda h: jnp.sum(head_logprobs_entropy(params, h, tokens, cfg, chunk=8)[1]))
    )(hidden)
    assert got[0].dtype == jnp.float32 and np.isfinite(np.asarray(grad)).all()
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]), rtol=1e-4, atol=1e-4)
