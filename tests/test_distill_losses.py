"""Distillation losses against formulas written here: reverse KL and its gradient, the chunked
full-vocabulary KL and log-probs against the one-shot forward, the teacher's zero gradient, the
sampled estimator's loss and gradient."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import forward, token_logprobs
from jaxinterest.sampling import pack
from jaxinterest.train import distill, kl_chunks, losses
from jaxinterest.train.teacher import LocalTeacher, cast_params
from tests.qwen2_helpers import random_params, tiny_config

RNG = np.random.default_rng(0)
STUDENT = tiny_config(vocab_size=53, hidden_size=32, intermediate_size=48, num_layers=1,
                      num_heads=2, num_kv_heads=1, head_dim=16)  # fmt: skip
TEACHER = tiny_config(vocab_size=53, hidden_size=48, intermediate_size=64, num_layers=2,
                      num_heads=4, num_kv_heads=2, head_dim=12)  # fmt: skip
WIDTH = 7


def np_log_softmax(x):
    x = np.asarray(x, np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@functools.cache
def models():
    return random_params(STUDENT, 1, 0.3), random_params(TEACHER, 2, 0.3)


def batch(seed=0, rows=5):
    rng = np.random.default_rng(seed)
    prompts = [list(rng.integers(1, 53, rng.integers(1, 6))) for _ in range(rows)]
    comps = [list(rng.integers(1, 53, rng.integers(1, WIDTH + 1))) for _ in range(rows)]
    return pack(prompts, comps, 0, 5, WIDTH)


def test_reverse_kl_value_and_gradient_formula():
    s = RNG.normal(0, 2, (3, 4, 11))
    t = RNG.normal(0, 2, (3, 4, 11))
    mask = RNG.random((3, 4)) < 0.7
    ls, lt = np_log_softmax(s), np_log_softmax(t)
    kl = np.where(mask, (np.exp(ls) * (ls - lt)).sum(-1), 0.0)
    # d KL / d z_s[v] = p_s[v] ((log p_s[v] - log p_t[v]) - KL): derived by hand, not autodiff
    full = (np.exp(ls) * (ls - lt)).sum(-1, keepdims=True)
    grad = np.where(mask[..., None], np.exp(ls) * ((ls - lt) - full), 0.0)
    w = RNG.normal(0, 1, (3, 4))  # a random cotangent, so each position's gradient is checked
    with jax.enable_x64(True):
        s64, t64 = jnp.asarray(s), jnp.asarray(t)
        got = losses.reverse_kl(s64, t64, mask)
        g_s, g_t = jax.grad(lambda a, b: jnp.sum(w * losses.reverse_kl(a, b, mask)), (0, 1))(
            s64, t64
        )
    np.testing.assert_allclose(np.asarray(got), kl, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g_s), w[..., None] * grad, rtol=1e-10, atol=1e-12)
    # d KL / d z_t[v] = p_t[v] - p_s[v] (the teacher side, which distillation stops)
    g_t_want = np.where(mask[..., None], np.exp(lt) - np.exp(ls), 0.0) * w[..., None]
    np.testing.assert_allclose(np.asarray(g_t), g_t_want, rtol=1e-10, atol=1e-12)


def full_reverse_kl(ps, pt, b):
    """The one-shot [B, T, V] version: both models' full logits, shifted to 'entry t is about
    token t', then losses.reverse_kl."""
    ls = forward(ps, b["tokens"], STUDENT, attention_mask=b["attention_mask"])
    lt = forward(pt, b["tokens"], TEACHER, attention_mask=b["attention_mask"])
    shift = lambda x: jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], 1)  # noqa: E731
    return losses.reverse_kl(shift(ls), shift(lt), b["completion_mask"])


@pytest.mark.parametrize("chunk", [3])
def test_chunked_reverse_kl_equals_full_logits(chunk):
    """Values and the student's gradient through the checkpointed chunk scan equal the one-shot
    [B, T, V] computation; float64 so that the comparison is tight."""
    b = batch(1)
    with jax.enable_x64(True):
        ps, pt = (jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), m) for m in models())

        @jax.jit
        def both(ps):
            chunked = lambda p: kl_chunks.chunked_reverse_kl(  # noqa: E731
                p, pt, b, STUDENT, TEACHER, width=WIDTH, chunk=chunk
            )
            full = lambda p: full_reverse_kl(p, pt, b)  # noqa: E731
            return (
                chunked(ps),
                full(ps),
                jax.grad(lambda p: jnp.sum(chunked(p)))(ps),
                jax.grad(lambda p: jnp.sum(full(p)))(ps),
            )

        got, want, g_chunk, g_full = jax.device_get(both(ps))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert np.all(got[~b["completion_mask"]] == 0)
    assert np.all(got[b["completion_mask"]] > 0)
    for a, c in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_chunk), strict=True):
        np.testing.assert_allclose(c, a, rtol=1e-9, atol=1e-12)


def test_teacher_gets_no_gradient_and_bf16_teacher_is_close():
    ps, pt = models()
    b = batch(2)
    kl = jax.jit(lambda s, t: kl_chunks.chunked_reverse_kl(s, t, b, STUDENT, TEACHER, width=WIDTH))
    g = jax.jit(jax.grad(lambda t: jnp.sum(kl(ps, t))))(pt)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g))
    f32 = kl(ps, pt)
    bf16 = kl(ps, cast_params(pt, "bfloat16"))
    assert bf16.dtype == jnp.float32
    m = b["completion_mask"]
    rel = np.abs(np.asarray(bf16) - np.asarray(f32))[m] / np.asarray(f32)[m]
    assert 0 < rel.max() < 0.05  # bf16 changes the numbers, by bf16-sized amounts


def test_chunked_token_logprobs_equals_forward():
    ps, pt = models()
    b = batch(3)
    ref = jax.jit(token_logprobs, static_argnums=4)
    want = ref(pt, b["tokens"], b["attention_mask"], b["completion_mask"], TEACHER)
    got = LocalTeacher(TEACHER, pt, chunk=3).token_logprobs(b, WIDTH)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)
    whole = distill.student_logprob_fn(STUDENT, width=None, chunk=5)(ps, b)
    want_s = ref(ps, b["tokens"], b["attention_mask"], b["completion_mask"], STUDENT)
    np.testing.assert_allclose(np.asarray(whole), np.asarray(want_s), rtol=1e-5, atol=1e-6)


def test_width_must_fit_the_batch():
    b = batch(0)
    with pytest.raises(ValueError, match="width"):
        kl_chunks.scored_width(b, b["tokens"].shape[1])
    with pytest.raises(ValueError, match="vocabulary"):
        kl_chunks.chunked_reverse_kl(
            *models(), b, STUDENT, TEACHER.replace(vocab_size=54), width=WIDTH
        )


def test_sampled_loss_formula_and_gradient():
    b, t = 4, 6
    mask = RNG.random((b, t)) < 0.7
    old = RNG.normal(-2, 0.5, (b, t))
    teacher = RNG.normal(-2, 0.5, (b, t))
    logp = old + RNG.normal(0, 0.2, (b, t))
    logp[~mask] = np.nan  # masked garbage must not leak
    loss, aux = distill.sampled_distill_loss(logp, old, teacher, mask, coef=0.5)
    rho = np.exp(logp - old)
    adv = -0.5 * (old - teacher)
    want = -(rho * adv)[mask].sum() / mask.sum()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    np.testing.assert_allclose(float(aux["teacher_kl"]), (old - teacher)[mask].mean(), rtol=1e-5)
    assert float(aux["weight"]) == mask.sum()
    # d loss / d logp_t = -rho_t A_t / n on the mask, 0 elsewhere
    g = np.asarray(
        jax.grad(lambda x: distill.sampled_distill_loss(x, old, teacher, mask, coef=0.5)[0])(
            jnp.asarray(np.where(mask, logp, 0.0), jnp.float32)
        )
    )
    np.testing.assert_allclose(g, np.where(mask, -rho * adv / mask.sum(), 0.0), rtol=1e-4)


def test_exact_objective_counts_only_the_window():
    ps, pt = models()
    b = batch(4)
    obj = distill.distill_objective(STUDENT, TEACHER, estimator="exact", width=WIDTH, chunk=4)
    loss, aux = jax.jit(obj)(ps, b, None, pt)
    kl = np.asarray(jax.jit(full_reverse_kl)(ps, pt, b))
    np.testing.assert_allclose(float(loss), kl[b["completion_mask"]].mean(), rtol=1e-5)
    assert float(aux["weight"]) == b["completion_mask"].sum()
    with pytest.raises(ValueError, match="estimator"):
        distill.distill_objective(STUDENT, TEACHER, estimator="forward")
