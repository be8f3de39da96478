"""Sampling statistics: empirical token frequencies match softmax(logits / T) cut by top-k and
top-p, by a chi-square test that also rejects plausible wrong implementations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import chi2

from jaxinterest.models.qwen2 import forward
from jaxinterest.sampling import SamplingMode, SamplingParams, generate, sample_step
from tests.qwen2_helpers import random_params, tiny_config

ALPHA = 1e-4  # false-rejection rate of a correct sampler (the keys are fixed: no flakiness)


def reference(logits, temperature, top_k=0, top_p=1.0, extra=0):
    """The target distribution, from the definition: temperature, then top-k, then the
    smallest top-p nucleus (mass strictly before a token < top_p). `extra` keeps that many
    tokens beyond the nucleus (extra=1 is the classic off-by-one bug)."""
    scaled = np.asarray(logits, np.float64) / temperature
    order = np.argsort(-scaled, kind="stable")
    if top_k:
        order = order[:top_k]
    p = np.exp(scaled[order] - scaled[order].max())
    p /= p.sum()
    n = int(np.sum(np.cumsum(p) - p < top_p)) + extra
    kept = order[:n]
    q = np.zeros(len(scaled))
    q[kept] = np.exp(scaled[kept] - scaled[kept].max())
    return q / q.sum()


def chi_square(counts, q):
    """(statistic, critical value at ALPHA). Counts on tokens with q == 0 make it infinite."""
    n = counts.sum()
    if counts[q == 0].sum() > 0:
        return np.inf, 0.0
    support = q > 0
    expected = n * q[support]
    stat = float(np.sum((counts[support] - expected) ** 2 / expected))
    return stat, float(chi2.ppf(1 - ALPHA, support.sum() - 1))


def accepts(counts, q):
    stat, critical = chi_square(counts, q)
    return stat < critical


# Twelve tokens with a long tail, shuffled so vocabulary order != probability order.
PROBS = np.array([0.24, 0.18, 0.14, 0.11, 0.09, 0.07, 0.055, 0.04, 0.03, 0.02, 0.01, 0.005])
LOGITS = np.log(PROBS / PROBS.sum())[np.random.default_rng(0).permutation(12)]
N = 60_000


@pytest.mark.parametrize(
    "temperature,top_k,top_p",
    [(1.0, 0, 1.0), (0.7, 0, 1.0), (0.8, 0, 0.7), (1.3, 5, 1.0), (1.2, 8, 0.8)],
)
def test_sample_step_frequencies(temperature, top_k, top_p):
    mode = SamplingMode(top_k=top_k, use_top_p=top_p < 1)
    logits = jnp.broadcast_to(jnp.asarray(LOGITS, jnp.float32), (N, len(LOGITS)))
    step = jax.jit(sample_step, static_argnums=2)
    tokens, logprob, raw = step(jax.random.key(0), logits, mode, temperature, top_p)
    counts = np.bincount(np.asarray(tokens), minlength=len(LOGITS))
    q = reference(LOGITS, temperature, top_k, top_p)
    assert accepts(counts, q), chi_square(counts, q)
    # The returned log-probs are those of the same distribution and of the raw model.
    np.testing.assert_allclose(np.asarray(logprob), np.log(q[np.asarray(tokens)]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(raw), LOGITS[np.asarray(tokens)], atol=1e-5)
    # The same test rejects what a buggy sampler would produce.
    wrong = {
        "temperature applied twice": reference(LOGITS, temperature**2, top_k, top_p),
        "no temperature": reference(LOGITS, 1.0, top_k, top_p),
    }
    if top_p < 1:
        wrong["nucleus one token too long"] = reference(LOGITS, temperature, top_k, top_p, 1)
        wrong["nucleus one token too short"] = reference(LOGITS, temperature, top_k, top_p, -1)
        wrong["no top-p"] = reference(LOGITS, temperature, top_k)
    if top_k:
        wrong["top-k off by one"] = reference(LOGITS, temperature, top_k + 1, top_p)
    for name, bad in wrong.items():
        if not np.allclose(bad, q):
            assert not accepts(counts, bad), f"chi-square failed to reject: {name}"


def test_greedy_is_argmax():
    logits = jnp.asarray(np.random.default_rng(1).normal(size=(64, 50)), jnp.float32)
    tokens, logprob, raw = sample_step(jax.random.key(0), logits, SamplingMode(greedy=True), 1, 1)
    np.testing.assert_array_equal(np.asarray(tokens), np.argmax(np.asarray(logits), -1))
    assert (np.asarray(logprob) == 0).all()
    ref = jax.nn.log_softmax(logits)[jnp.arange(64), tokens]
    np.testing.assert_allclose(np.asarray(raw), np.asarray(ref), atol=1e-6)


def test_generate_first_token_frequencies():
    """Through the whole engine (prefill, G-row broadcast, chunking): the first sampled token
    of many samples of one prompt follows the model's filtered next-token distribution."""
    cfg = tiny_config(vocab_size=300, max_position_embeddings=128)
    params = random_params(cfg, seed=9, scale=0.25)
    prompt = [3, 17, 42, 99, 5]
    logits = np.asarray(forward(params, jnp.asarray([prompt]), cfg)[0, -1], np.float64)
    t, p, g = 0.9, 0.8, 12_000
    out = generate(
        params,
        cfg,
        [prompt],
        SamplingParams(max_new_tokens=1, num_samples=g, temperature=t, top_p=p),
        key=jax.random.key(7),
        batch_rows=4096,
    )
    assert out.tokens.shape == (g, 1) and (out.prompt_index == 0).all()
    counts = np.bincount(out.tokens[:, 0], minlength=cfg.vocab_size)
    q = reference(logits, t, 0, p)
    assert 5 < (q > 0).sum() < cfg.vocab_size  # the nucleus cuts something off
    assert accepts(counts, q), chi_square(counts, q)
    assert not accepts(counts, reference(logits, t, 0, p, extra=1))
    assert not accepts(counts, reference(logits, t * t, 0, p))
