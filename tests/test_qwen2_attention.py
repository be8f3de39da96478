"""The one attention statement (`models.qwen2.attention`) against float64 numpy, and every
other JAX path (decode layout, kernel reference, decode step) against it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest import kernels
from jaxinterest.models.qwen2 import (
    attend,
    attend_decode,
    attention_bias,
    forward,
    fuse_qkv,
    split_qkv,
)
from jaxinterest.sampling.engine import prefill
from jaxinterest.sampling.step import decode_step, prepare, slot_axes
from tests.qwen2_helpers import random_params, tiny_config


def attention64(q, k, v, allowed):
    """q [B, T, N, H], k and v [B, S, K, H], allowed [B, T, S] bool -> [B, T, N, H] float64,
    query head n reading kv head n // (N / K); a query that sees nothing averages all keys."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, t, n, h = q.shape
    g = n // k.shape[2]
    out = np.zeros((b, t, n, h))
    for i in range(b):
        for j in range(t):
            for head in range(n):
                scores = k[i, :, head // g] @ q[i, j, head] / np.sqrt(h)
                if allowed[i, j].any():
                    scores = np.where(allowed[i, j], scores, -np.inf)
                else:
                    scores = np.zeros_like(scores)
                p = np.exp(scores - scores.max())
                out[i, j, head] = (p / p.sum()) @ v[i, :, head // g]
    return out


def random_qkv(rng, b, t, s, n, kv, h):
    q = rng.normal(size=(b, t, n, h)).astype(np.float32)
    k = rng.normal(size=(b, s, kv, h)).astype(np.float32)
    v = rng.normal(size=(b, s, kv, h)).astype(np.float32)
    return q, k, v


@pytest.mark.parametrize("n,kv", [(4, 2), (6, 1), (3, 3)])
def test_attend_matches_float64_with_causal_and_padding_masks(n, kv):
    rng = np.random.default_rng(n * 10 + kv)
    b, t, s, h = 3, 5, 9, 8
    q, k, v = random_qkv(rng, b, t, s, n, kv, h)
    q_slots = np.array([[4, 5, 6, 7, 8], [0, 1, 2, 3, 4], [2, 2, 5, 6, 8]])
    valid = rng.random((b, s)) < 0.7
    valid[1] = False  # row 1: no key is real, every query falls back to the uniform average
    allowed = (np.arange(s)[None, None, :] <= q_slots[:, :, None]) & valid[:, None, :]
    got = attend(q, k, v, attention_bias(jnp.asarray(q_slots), jnp.asarray(valid)))
    assert np.isfinite(np.asarray(got)).all()
    np.testing.assert_allclose(np.asarray(got), attention64(q, k, v, allowed), atol=1e-5)


def test_attend_decode_equals_attend():
    """The decode layout (keys [R, K, H, S], values [R, K, S, H]) computes `attend` at T = 1."""
    rng = np.random.default_rng(7)
    r, s, n, kv, h = 6, 13, 4, 2, 16
    q, k, v = random_qkv(rng, r, 1, s, n, kv, h)
    slot = 9
    valid = np.arange(s)[None, :] >= rng.integers(0, slot + 1, r)[:, None]
    bias = attention_bias(jnp.full((r, 1), slot), jnp.asarray(valid))
    want = attend(q, k, v, bias)[:, 0]
    got = attend_decode(q[:, 0], k.transpose(0, 2, 3, 1), v.transpose(0, 2, 1, 3), bias)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6, rtol=0)
    poisoned = np.where(valid[:, None, None, :] & (np.arange(s) <= slot), 0.0, 1e3)
    moved = attend_decode(
        q[:, 0], k.transpose(0, 2, 3, 1) + poisoned, v.transpose(0, 2, 1, 3), bias
    )
    np.testing.assert_allclose(np.asarray(moved), np.asarray(got), atol=1e-6, rtol=0)


def test_fuse_then_split_is_the_identity_and_bad_widths_are_named():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 5, x, 8)).astype(np.float32) for x in (4, 2, 2))
    fused = fuse_qkv(q, k, v)
    assert fused.shape == (2, 5, (4 + 2 * 2) * 8)
    for a, b in zip(split_qkv(fused, 4, 2, 8), (q, k, v), strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
    with pytest.raises(ValueError, match="not \\(4 \\+ 2 \\* 3\\) \\* 8"):
        split_qkv(fused, 4, 3, 8)


@pytest.mark.skipif(not kernels.kernel_available(), reason="kernels unavailable")
def test_kernel_reference_is_attend_in_the_kernel_layout():
    """Rows attend to [lo, slot]; lo below 0 or past slot clamps."""
    rng = np.random.default_rng(3)
    r, n, kv, h, s, slot = 4, 4, 2, 16, 12, 7
    qkv = rng.normal(size=(r, (n + 2 * kv) * h)).astype(np.float32)
    cos, sin = np.ones((r, h), np.float32), np.zeros((r, h), np.float32)  # RoPE at position 0
    keys = rng.normal(size=(r, kv, s, h)).astype(np.float32)
    values = rng.normal(size=(r, kv, s, h)).astype(np.float32)
    lo = np.array([0, 3, -2, 11], np.int32)
    out, new_k, new_v = kernels.decode_attention_reference(
        qkv, cos, sin, keys, values, lo, slot, heads=n, kv_heads=kv
    )
    q, k, v = (np.asarray(x) for x in split_qkv(qkv, n, kv, h))
    np.testing.assert_array_equal(np.asarray(new_k)[:, :, slot], k)
    np.testing.assert_array_equal(np.asarray(new_v)[:, :, slot], v)
    first = np.clip(lo, 0, slot)
    allowed = (np.arange(s)[None, :] >= first[:, None]) & (np.arange(s)[None, :] <= slot)
    to_bskh = (0, 2, 1, 3)
    want = attention64(
        q[:, None], np.asarray(new_k).transpose(to_bskh), np.asarray(new_v).transpose(to_bskh),
        allowed[:, None],
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(out), want.reshape(r, n * h), atol=1e-5)


@pytest.mark.parametrize("backend", ["xla", "kernel"])
def test_decode_step_equals_the_full_forward(backend):
    """Prefill left-padded prompts, then decode steps: the logits of each new token equal the
    model's full forward over prompt + continuation (the same attention, mask and RoPE)."""
    if backend == "kernel" and not kernels.kernel_available():
        pytest.skip("kernels unavailable")
    cfg = tiny_config(vocab_size=150, qkv_bias=True)
    params = random_params(cfg, seed=3, scale=0.2)
    rng = np.random.default_rng(1)
    lengths, p, steps = (3, 7, 5), 8, 4
    prompts = [rng.integers(1, cfg.vocab_size, n).tolist() for n in lengths]
    new = rng.integers(1, cfg.vocab_size, (len(prompts), steps))
    tokens = np.zeros((len(prompts), p), np.int32)
    mask = np.zeros((len(prompts), p), bool)
    for i, x in enumerate(prompts):
        tokens[i, p - len(x) :], mask[i, p - len(x) :] = x, True
    caches, _ = prefill(params, tokens, mask, cfg=cfg, backend=backend)
    axes = slot_axes(backend)
    caches = tuple(  # room for the new tokens after the prompt slots
        tuple(
            jnp.pad(c, [(0, steps if d == a else 0) for d in range(4)])
            for c, a in zip(kv, axes, strict=True)
        )
        for kv in caches
    )
    kv_valid = np.concatenate([mask, np.ones((len(prompts), steps), bool)], axis=1)
    lo = (p - np.asarray(lengths)).astype(np.int32)
    weights = prepare(params, cfg, backend)
    step = jax.jit(decode_step, static_argnums=(7, 8))
    full = np.concatenate([tokens, new], axis=1)
    want = jax.jit(forward, static_argnums=2)(params, full, cfg, attention_mask=kv_valid)
    for t in range(steps):
        positions = jnp.asarray(np.asarray(lengths) + t, jnp.int32)
        logits, caches = step(
            weights, caches, jnp.asarray(new[:, t]), positions, p + t, kv_valid, lo, cfg, backend
        )
        np.testing.assert_allclose(np.asarray(logits), np.asarray(want[:, p + t]), atol=2e-5)
