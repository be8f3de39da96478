"""The C++ CPU kernels against formulas written here in float64 numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest import kernels

pytestmark = pytest.mark.skipif(
    not kernels.kernel_available(), reason=f"kernels unavailable: {kernels.build.status()}"
)

F32_EPS = np.finfo(np.float32).eps


def rope64(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def attention64(qkv, cos, sin, keys, values, lo, slot, heads, kv_heads):
    """Decode attention in float64: RoPE, write at slot, softmax over [lo, slot] per row."""
    r, _, s, h = keys.shape
    g = heads // kv_heads
    qkv, cos, sin = (np.asarray(a, np.float64) for a in (qkv, cos, sin))
    keys, values = np.array(keys, np.float64), np.array(values, np.float64)
    out = np.zeros((r, heads, h))
    for i in range(r):
        q = rope64(qkv[i, : heads * h].reshape(heads, h), cos[i], sin[i])
        k = rope64(qkv[i, heads * h : (heads + kv_heads) * h].reshape(kv_heads, h), cos[i], sin[i])
        keys[i, :, slot] = k
        values[i, :, slot] = qkv[i, (heads + kv_heads) * h :].reshape(kv_heads, h)
        first = min(max(int(lo[i]), 0), slot)
        for n in range(heads):
            kv = n // g
            scores = keys[i, kv, first : slot + 1] @ q[n] / np.sqrt(h)
            p = np.exp(scores - scores.max())
            out[i, n] = (p / p.sum()) @ values[i, kv, first : slot + 1]
    return out.reshape(r, heads * h), keys, values


def random_attention_inputs(rng, rows, heads, kv_heads, head_dim, slots):
    qkv = rng.normal(size=(rows, (heads + 2 * kv_heads) * head_dim)).astype(np.float32)
    angles = rng.uniform(0, 60, (rows, head_dim // 2))
    angles = np.concatenate([angles, angles], axis=1)
    cos, sin = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    shape = (rows, kv_heads, slots, head_dim)
    keys = rng.normal(size=shape).astype(np.float32)
    values = rng.normal(size=shape).astype(np.float32)
    return qkv, cos, sin, keys, values


@pytest.mark.parametrize(
    "rows,heads,kv_heads,head_dim,slots,slot",
    [
        (5, 6, 2, 64, 37, 29),  # S not a multiple of 8, G = 3
        (3, 4, 4, 16, 16, 15),  # G = 1, last slot
        (2, 7, 1, 128, 40, 3),  # G = 7, head_dim 128
        (4, 2, 2, 8, 9, 0),  # first slot only
        (32, 4, 2, 64, 112, 80),  # the tiny-5m decode shape
    ],
)
def test_decode_attention_matches_float64(rows, heads, kv_heads, head_dim, slots, slot):
    rng = np.random.default_rng(rows * 1000 + slot)
    qkv, cos, sin, keys, values = random_attention_inputs(
        rng, rows, heads, kv_heads, head_dim, slots
    )
    lo = rng.integers(-2, slot + 3, rows).astype(np.int32)  # below 0 and past slot clamp
    lo[0] = 0
    call = jax.jit(lambda *a: kernels.decode_attention(*a, slot, heads=heads, kv_heads=kv_heads))
    out, new_keys, new_values = call(qkv, cos, sin, keys, values, lo)
    want, want_keys, want_values = attention64(
        qkv, cos, sin, keys, values, lo, slot, heads, kv_heads
    )
    # Outputs are convex combinations of N(0, 1) values: 64 float32 ulps of 1 bound the error.
    np.testing.assert_allclose(np.asarray(out), want, atol=64 * F32_EPS, rtol=0)
    np.testing.assert_allclose(np.asarray(new_keys), want_keys, atol=8 * F32_EPS, rtol=0)
    np.testing.assert_array_equal(np.asarray(new_values), want_values.astype(np.float32))
    ref = jax.jit(
        lambda *a: kernels.decode_attention_reference(*a, slot, heads=heads, kv_heads=kv_heads)
    )(qkv, cos, sin, keys, values, lo)
    np.testing.assert_allclose(np.asarray(ref[0]), want, atol=64 * F32_EPS, rtol=0)


def test_decode_attention_never_reads_outside_the_valid_slots():
    rng = np.random.default_rng(3)
    qkv, cos, sin, keys, values = random_attention_inputs(rng, 4, 4, 2, 32, 30)
    lo, slot = np.array([5, 0, 11, 20], np.int32), 20
    out = kernels.decode_attention(qkv, cos, sin, keys, values, lo, slot, heads=4, kv_heads=2)[0]
    poisoned_k, poisoned_v = keys.copy(), values.copy()
    for i, first in enumerate(lo):
        for part in (poisoned_k, poisoned_v):
            part[i, :, :first] = np.nan
            part[i, :, slot + 1 :] = np.nan
    again = kernels.decode_attention(
        qkv, cos, sin, poisoned_k, poisoned_v, lo, slot, heads=4, kv_heads=2
    )[0]
    np.testing.assert_array_equal(np.asarray(again), np.asarray(out))


def test_decode_attention_updates_a_donated_cache_in_place():
    rng = np.random.default_rng(4)
    qkv, cos, sin, keys, values = random_attention_inputs(rng, 3, 2, 1, 16, 12)
    lo = np.zeros(3, np.int32)

    @jax.jit
    def two_steps(keys, values):
        for slot in (4, 5):
            _, keys, values = kernels.decode_attention(
                qkv, cos, sin, keys, values, lo, slot, heads=2, kv_heads=1
            )
        return keys, values

    donated = jax.jit(two_steps, donate_argnums=(0, 1))
    k1, v1 = two_steps(jnp.asarray(keys), jnp.asarray(values))
    k2, v2 = donated(jnp.asarray(keys), jnp.asarray(values))
    np.testing.assert_array_equal(np.asarray(k1), np.asarray(k2))
    np.testing.assert_array_equal(np.asarray(v1), np.asarray(v2))
    assert not np.array_equal(np.asarray(k1)[:, :, 4], keys[:, :, 4])  # written
    np.testing.assert_array_equal(np.asarray(k1)[:, :, 6:], keys[:, :, 6:])  # untouched


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(head_dim=12), "multiple of 8"),
        (dict(dtype=jnp.bfloat16), "float32 only"),
        (dict(heads=3), "kv heads"),
        (dict(qkv_cols=10), "qkv"),
    ],
)
def test_decode_attention_bad_input(kwargs, match):
    h = kwargs.get("head_dim", 16)
    heads = kwargs.get("heads", 4)
    dtype = kwargs.get("dtype", jnp.float32)
    cols = kwargs.get("qkv_cols", (4 + 2 * 2) * h)
    keys = jnp.zeros((2, 2, 8, h), dtype)
    with pytest.raises(ValueError, match=match):
        kernels.decode_attention(
            jnp.zeros((2, cols)),
            jnp.zeros((2, h)),
            jnp.zeros((2, h)),
            keys,
            keys,
            jnp.zeros(2, jnp.int32),
            3,
            heads=heads,
            kv_heads=2,
        )


@pytest.mark.parametrize("m,k,n", [(1, 8, 1), (5, 64, 16), (32, 256, 513), (37, 300, 100)])
def test_matmul_matches_float64_within_the_dot_product_bound(m, k, n):
    rng = np.random.default_rng(m + k + n)
    a = rng.normal(size=(m, k)).astype(np.float32)
    w = rng.normal(size=(k, n)).astype(np.float32)
    panels = kernels.pack_panels(jnp.asarray(w))
    assert panels.shape == (-(-n // 16), k, 16)
    got = np.asarray(jax.jit(kernels.matmul, static_argnums=2)(a, panels, n))
    want = a.astype(np.float64) @ w.astype(np.float64)
    # A float32 dot product of length k is within k * eps * (|a| @ |w|) of the exact value.
    bound = k * F32_EPS * (np.abs(a).astype(np.float64) @ np.abs(w))
    assert got.shape == (m, n)
    assert (np.abs(got - want) <= bound).all()


def test_matmul_bad_input():
    panels = kernels.pack_panels(jnp.zeros((8, 20)))
    with pytest.raises(ValueError, match="do not fit"):
        kernels.matmul(jnp.zeros((2, 9)), panels, 20)
    with pytest.raises(ValueError, match="cannot hold"):
        kernels.matmul(jnp.zeros((2, 8)), panels, 33)


def log_softmax64(x):
    x = np.asarray(x, np.float64)
    top = x.max(-1, keepdims=True)
    return x - top - np.log(np.exp(x - top).sum(-1, keepdims=True))


def test_sample_rows_greedy_is_the_first_maximum():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 1000)).astype(np.float32) * 4
    x[1, [10, 700]] = x[1].max() + 1  # a tie: the first index wins, as jnp.argmax
    x[2, :] = 0.5  # all equal
    x[3, :-1] = -np.inf  # one finite entry, at the end
    tokens, logprob, raw = kernels.sample_rows(x, jnp.zeros(6), 1.0, greedy=True)
    assert np.asarray(tokens).tolist() == np.argmax(x, axis=-1).tolist()
    assert np.asarray(tokens)[1] == 10
    np.testing.assert_array_equal(np.asarray(logprob), 0.0)
    want = log_softmax64(x)[np.arange(6), np.argmax(x, axis=-1)]
    scale = np.abs(x[np.isfinite(x)]).max()  # 8 float32 ulps of the largest logit
    np.testing.assert_allclose(np.asarray(raw), want, atol=8 * F32_EPS * scale, rtol=0)


@pytest.mark.parametrize("temperature", [1.0, 0.6, 1.7])
def test_sample_rows_inverts_the_cdf_at_the_uniform(temperature):
    rng = np.random.default_rng(6)
    rows, vocab = 64, 777
    x = (rng.normal(size=(rows, vocab)) * 3).astype(np.float32)
    x[:, :50] = -np.inf  # never drawn
    u = jax.random.uniform(jax.random.key(7), (rows,))
    tokens, logprob, raw = (
        np.asarray(a) for a in kernels.sample_rows(x, u, temperature, greedy=False)
    )
    scaled = log_softmax64(x / temperature)
    cdf = np.cumsum(np.exp(scaled), axis=-1)
    target = 1.0 - np.asarray(u, np.float64)
    for r, t in enumerate(tokens):
        assert t >= 50
        # The token's CDF step holds the target, up to float32 summation error.
        lower = cdf[r, t - 1] if t else 0.0
        assert lower - 1e-5 <= target[r] <= cdf[r, t] + 1e-5, (r, t)
    np.testing.assert_allclose(logprob, scaled[np.arange(rows), tokens], atol=1e-5, rtol=0)
    np.testing.assert_allclose(raw, log_softmax64(x)[np.arange(rows), tokens], atol=1e-5, rtol=0)


def test_sample_rows_frequencies_match_the_tempered_softmax():
    logits = np.array([2.0, 1.0, 0.5, 0.0, -1.0, -np.inf], np.float32)
    draws, temperature = 40_000, 0.8
    x = np.broadcast_to(logits, (draws, logits.size))
    u = jax.random.uniform(jax.random.key(8), (draws,))
    tokens = np.asarray(kernels.sample_rows(x, u, temperature, greedy=False)[0])
    freq = np.bincount(tokens, minlength=logits.size) / draws
    want = np.exp(log_softmax64(logits / temperature))
    # Total variation of an empirical distribution over 5 outcomes from 40k draws is below
    # 0.01 with overwhelming probability; temperature applied twice gives 0.07.
    assert 0.5 * np.abs(freq - want).sum() < 0.01
    assert freq[-1] == 0


def test_sample_rows_rejects_a_bad_temperature():
    with pytest.raises(Exception, match="temperature"):
        jax.block_until_ready(
            kernels.sample_rows(jnp.zeros((2, 5)), jnp.zeros(2), 0.0, greedy=False)
        )
