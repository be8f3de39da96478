"""The optimiser against formulas written here: schedule, clipping, AdamW, decay mask."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.train.optim import OptimConfig, decay_mask, make_optimizer, make_schedule


def lr_formula(s, lr, warmup, total, final):
    if s < warmup:
        return lr * s / warmup
    if s >= total:
        return lr * final
    frac = (s - warmup) / (total - warmup)
    return lr * final + (lr - lr * final) * 0.5 * (1 + math.cos(math.pi * frac))


def test_schedule_is_linear_warmup_then_cosine():
    cfg = OptimConfig(lr=3e-4, warmup_steps=10, total_steps=50, final_lr_ratio=0.1)
    sched = make_schedule(cfg)
    for s in [0, 1, 5, 10, 11, 30, 49, 50, 80]:
        assert float(sched(s)) == pytest.approx(
            lr_formula(s, 3e-4, 10, 50, 0.1), rel=1e-5, abs=1e-12
        )


def test_adamw_with_clipping_matches_the_formula():
    """Two steps of clip -> Adam -> decoupled weight decay, written out by hand; the norm
    scale is exempt from decay."""
    cfg = OptimConfig(
        lr=0.1,
        warmup_steps=0,
        total_steps=100,
        final_lr_ratio=1.0,
        weight_decay=0.5,
        clip_norm=1.0,
        b1=0.9,
        b2=0.99,
        eps=1e-8,
    )
    params = {"w": {"kernel": jnp.array([[1.0, -2.0]])}, "n": {"scale": jnp.array([3.0])}}
    grads = [
        {"w": {"kernel": jnp.array([[3.0, 4.0]])}, "n": {"scale": jnp.array([0.0])}},  # norm 5
        {"w": {"kernel": jnp.array([[0.1, -0.2]])}, "n": {"scale": jnp.array([0.2])}},  # norm .3
    ]
    opt = make_optimizer(cfg)
    state = opt.init(params)
    p = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in params.items()}
    m = {k: {n: np.zeros_like(v) for n, v in d.items()} for k, d in p.items()}
    v = {k: {n: np.zeros_like(x) for n, x in d.items()} for k, d in p.items()}
    for t, g in enumerate(grads, start=1):
        updates, state = opt.update(g, state, params)
        params = jax.tree.map(lambda a, b: a + b, params, updates)
        gn = np.sqrt(sum(float(np.sum(np.square(x))) for x in jax.tree.leaves(g)))
        scale = min(1.0, 1.0 / gn)
        for k, d in p.items():
            for n in d:
                gi = np.asarray(g[k][n], np.float64) * scale
                m[k][n] = 0.9 * m[k][n] + 0.1 * gi
                v[k][n] = 0.99 * v[k][n] + 0.01 * gi**2
                step = (m[k][n] / (1 - 0.9**t)) / (np.sqrt(v[k][n] / (1 - 0.99**t)) + 1e-8)
                decay = 0.5 * d[n] if n == "kernel" else 0.0
                d[n] = d[n] - 0.1 * (step + decay)
    for k, d in p.items():
        for n, want in d.items():
            np.testing.assert_allclose(np.asarray(params[k][n]), want, rtol=1e-5)


def test_decay_mask_skips_norms_and_biases():
    tree = {
        "layers": {"q": {"kernel": 0, "bias": 0}, "attn_norm": {"scale": 0}},
        "embed": {"embedding": 0},
    }
    mask = decay_mask(tree)
    assert mask == {
        "layers": {"q": {"kernel": True, "bias": False}, "attn_norm": {"scale": False}},
        "embed": {"embedding": True},
    }


def test_config_checks():
    with pytest.raises(ValueError, match="total_steps"):
        OptimConfig(warmup_steps=10, total_steps=5)
    with pytest.raises(ValueError, match=">= 0"):
        OptimConfig(lr=-1.0)
