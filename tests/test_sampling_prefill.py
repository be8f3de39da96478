"""The prefill program (`sampling.engine.prefill`): its last-position logits and its cache
against computations written here, and its determinism under its own XLA options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import forward
from jaxinterest.sampling import engine, left_pad, right_pad
from tests.qwen2_helpers import random_params, tiny_config

CFG = tiny_config(vocab_size=300, max_position_embeddings=128, qkv_bias=True)
LENGTHS = (3, 17, 40, 29)


@pytest.fixture(scope="module")
def setup():
    params = random_params(CFG, seed=11, scale=0.25)
    rng = np.random.default_rng(4)
    prompts = [rng.integers(1, CFG.vocab_size, n).tolist() for n in LENGTHS]
    tokens, mask = left_pad(prompts, 48, pad_id=0)
    return params, prompts, jnp.asarray(tokens), jnp.asarray(mask)


def _layer0_keys_values(params, prompt):
    """Layer 0's RoPE'd keys and values [T, K, H] of one unpadded prompt, from the weights."""
    lp = jax.tree.map(lambda a: np.asarray(a[0], np.float64), params["layers"])
    x = np.asarray(params["embed"]["embedding"], np.float64)[np.asarray(prompt)]  # [T, D]
    x = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + CFG.rms_norm_eps)
    x = x * lp["attn_norm"]["scale"]
    k = np.einsum("td,dkh->tkh", x, lp["k"]["kernel"]) + lp["k"]["bias"]
    v = np.einsum("td,dkh->tkh", x, lp["v"]["kernel"]) + lp["v"]["bias"]
    h = CFG.head_dim
    inv = 1.0 / CFG.rope_theta ** (np.arange(0, h, 2) / h)
    ang = np.arange(len(prompt))[:, None] * inv[None]  # [T, H/2]
    cos, sin = np.cos(ang)[:, None], np.sin(ang)[:, None]
    k1, k2 = k[..., : h // 2], k[..., h // 2 :]
    k = np.concatenate([k1 * cos - k2 * sin, k2 * cos + k1 * sin], axis=-1)
    return k, v


@pytest.mark.parametrize("backend", ["xla", "kernel"])
def test_prefill_logits_and_cache(setup, backend):
    params, prompts, tokens, mask = setup
    if backend == "kernel" and engine.kernels.unsupported_reason(CFG.head_dim, jnp.float32):
        pytest.skip("the CPU kernels do not serve this config")
    caches, logits = engine.prefill(params, tokens, mask, cfg=CFG, backend=backend)
    width = tokens.shape[1]
    # The full forward (every position's logits) of the prompts right-padded, the other layout.
    right, right_mask = right_pad(prompts, width, pad_id=0)
    full = forward(params, jnp.asarray(right), CFG, attention_mask=jnp.asarray(right_mask))
    for i, prompt in enumerate(prompts):
        # Only the last position's logits are computed: they equal the full computation's row
        # at the prompt's last token.
        np.testing.assert_allclose(logits[i], full[i, len(prompt) - 1], rtol=1e-5, atol=1e-5)
        # The prompt's real slots, right-aligned, hold its keys and values.
        keys, values = caches[0]
        lo = width - len(prompt)
        if backend == "kernel":  # [B, K, S, H]
            got_k, got_v = keys[i, :, lo:], values[i, :, lo:]
        else:  # keys [B, K, H, S], values [B, K, S, H]
            got_k, got_v = jnp.swapaxes(keys[i, :, :, lo:], 1, 2), values[i, :, lo:]
        want_k, want_v = _layer0_keys_values(params, prompt)
        np.testing.assert_allclose(got_k, want_k.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_v, want_v.transpose(1, 0, 2), rtol=1e-4, atol=1e-5)


def test_prefill_is_deterministic(setup):
    params, _, tokens, mask = setup
    first = engine.prefill(params, tokens, mask, cfg=CFG, backend="xla")
    again = engine.prefill(params, tokens, mask, cfg=CFG, backend="xla")
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(a, b)
