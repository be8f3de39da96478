"""The training losses against formulas written independently here in numpy (float64 loops)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxinterest.train import losses

# Jitted once per static configuration: op-by-op dispatch would dominate these small tests.
dr_grpo_loss = jax.jit(
    losses.dr_grpo_loss, static_argnames=("clip_eps", "beta", "max_len", "ratio")
)
group_advantages = jax.jit(losses.group_advantages, static_argnums=1)
reverse_kl = jax.jit(losses.reverse_kl)
sft_loss = jax.jit(losses.sft_loss)

RNG = np.random.default_rng(0)


def np_dr_grpo(logp, old, ref, mask, adv, eps, beta, max_len, ratio):
    """Paper eq. 5-7 with Dr.GRPO's constant normaliser, one sequence at a time."""
    losses = []
    for b in range(logp.shape[0]):
        idx = np.flatnonzero(mask[b])
        a = float(adv[b])
        if ratio == "token":
            s = 0.0
            for t in idx:
                r = np.exp(float(logp[b, t]) - float(old[b, t]))
                s += min(r * a, min(max(r, 1 - eps), 1 + eps) * a)
            pol = -s / max_len
        else:
            r = np.exp(sum(float(logp[b, t]) - float(old[b, t]) for t in idx))
            pol = -min(r * a, min(max(r, 1 - eps), 1 + eps) * a) / max_len
        kl = 0.0
        if beta:
            for t in idx:
                d = float(ref[b, t]) - float(logp[b, t])
                kl += np.exp(d) - d - 1
        losses.append(pol + beta * kl / max_len)
    return float(np.mean(losses))


def random_case(b=4, t=7, spread=0.3):
    logp = -RNG.uniform(0.1, 3.0, (b, t)).astype(np.float32)
    old = (logp + RNG.normal(0, spread, (b, t))).astype(np.float32)
    ref = (logp + RNG.normal(0, spread, (b, t))).astype(np.float32)
    lengths = RNG.integers(1, t + 1, b)
    mask = np.arange(t)[None, :] < lengths[:, None]
    adv = RNG.normal(0, 1, b).astype(np.float32)
    return logp, old, ref, mask, adv


def test_group_advantages_subtract_group_mean_without_std():
    rewards = np.array([1.0, 2.0, 6.0, 0.5, 0.5, 0.5, -1.0, 3.0, 1.0], np.float32)
    want = []
    for g in range(3):
        r = rewards[3 * g : 3 * g + 3].astype(np.float64)
        want += list(r - r.sum() / 3)
    got = np.asarray(group_advantages(rewards, 3))
    np.testing.assert_allclose(got, want, atol=1e-6)
    # No std division: scaling the rewards scales the advantages; a flat group gives zeros.
    np.testing.assert_allclose(np.asarray(group_advantages(10 * rewards, 3)), 10 * got, rtol=1e-6)
    assert np.all(got[3:6] == 0)
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(rewards, 4)


@pytest.mark.parametrize("ratio", ["token", "sequence"])
@pytest.mark.parametrize("beta", [0.0, 0.05])
def test_dr_grpo_matches_numpy(ratio, beta):
    logp, old, ref, mask, adv = random_case(spread=0.05 if ratio == "sequence" else 0.3)
    kw = dict(clip_eps=0.2, beta=beta, max_len=9, ratio=ratio)
    loss, aux = dr_grpo_loss(logp, old, ref, mask, adv, **kw)
    want = np_dr_grpo(logp, old, ref, mask, adv, 0.2, beta, 9, ratio)
    assert float(loss) == pytest.approx(want, rel=1e-5, abs=1e-6)
    if beta:
        d = (ref - logp)[mask].astype(np.float64)
        assert float(aux["kl"]) == pytest.approx(np.mean(np.exp(d) - d - 1), rel=1e-5)
    else:
        assert float(aux["kl"]) == 0.0


def test_beta_zero_needs_no_reference_and_beta_positive_does():
    logp, old, _, mask, adv = random_case()
    loss, _ = dr_grpo_loss(logp, old, None, mask, adv, clip_eps=0.2, beta=0.0, max_len=7)
    assert np.isfinite(float(loss))
    with pytest.raises(ValueError, match="ref_logp"):
        dr_grpo_loss(logp, old, None, mask, adv, clip_eps=0.2, beta=0.1, max_len=7)


def test_constant_normaliser_weighs_tokens_equally():
    """Two sequences of lengths 2 and 6 with the same advantage: at ratio 1 every token's
    gradient is -A / (B * max_len), whatever its sequence's length."""
    logp = np.full((2, 6), -1.0, np.float32)
    mask = np.array([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    adv = np.array([0.5, 0.5], np.float32)
    max_len = 8

    def f(lp):
        return dr_grpo_loss(lp, logp, None, mask, adv, clip_eps=0.2, beta=0.0, max_len=max_len)[0]

    g = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(logp)))
    np.testing.assert_allclose(g[mask], -0.5 / (2 * max_len), rtol=1e-6)
    assert np.all(g[~mask] == 0)
    # The loss is -A * (2 + 6) / (2 * max_len): tokens count, not sequences.
    assert float(f(logp)) == pytest.approx(-0.5 * 8 / (2 * max_len), rel=1e-6)


def test_clipping_on_both_signs_of_the_advantage():
    eps = 0.2
    # One token per sequence; log-ratios chosen well inside / outside [1 - eps, 1 + eps].
    log_r = np.log(np.array([1.5, 1.5, 0.5, 0.5, 1.05, 0.95], np.float32))
    adv = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], np.float32)
    old = np.full((6, 1), -2.0, np.float32)
    logp = old + log_r[:, None]
    mask = np.ones((6, 1), bool)

    def f(lp):
        return dr_grpo_loss(lp, old, None, mask, adv, clip_eps=eps, beta=0.0, max_len=1)

    loss, aux = f(logp)
    r = np.exp(log_r.astype(np.float64))
    per_seq = [
        -min(ri * a, np.clip(ri, 1 - eps, 1 + eps) * a) for ri, a in zip(r, adv, strict=True)
    ]
    assert float(loss) == pytest.approx(np.mean(per_seq), rel=1e-6)
    # Clipped (no gradient): ratio above 1 + eps with A > 0, below 1 - eps with A < 0.
    # Unclipped (the min picks rho * A): ratio above with A < 0, below with A > 0, inside.
    g = np.asarray(jax.jit(jax.grad(lambda lp: f(lp)[0]))(jnp.asarray(logp)))[:, 0]
    active = np.array([True, False, False, True, False, False])
    assert np.all(g[active] == 0)
    np.testing.assert_allclose(g[~active], -(r * adv)[~active] / 6, rtol=1e-5)
    assert float(aux["clip_frac"]) == pytest.approx(2 / 6)


def test_sequence_ratio_is_the_whole_list_ratio():
    logp, old, _, mask, adv = random_case(spread=0.05)
    _, aux = dr_grpo_loss(
        logp, old, None, mask, adv, clip_eps=10.0, beta=0, max_len=7, ratio="sequence"
    )
    rho = np.exp(np.where(mask, logp.astype(np.float64) - old, 0).sum(axis=1))
    assert float(aux["ratio_mean"]) == pytest.approx(rho.mean(), rel=1e-5)
    assert float(aux["ratio_max"]) == pytest.approx(rho.max(), rel=1e-5)
    # At rho = 1 (first inner step) both variants have the same gradient.
    grads = [
        np.asarray(
            jax.grad(
                lambda lp, r=r: dr_grpo_loss(
                    lp, logp, None, mask, adv, clip_eps=0.2, beta=0, max_len=7, ratio=r
                )[0]
            )(jnp.asarray(logp))
        )
        for r in ("token", "sequence")
    ]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-8)


def test_masked_garbage_does_not_leak():
    logp, old, ref, mask, adv = random_case()
    bad_logp = np.where(mask, logp, np.nan).astype(np.float32)
    bad_ref = np.where(mask, ref, np.inf).astype(np.float32)
    kw = dict(clip_eps=0.2, beta=0.1, max_len=7)
    want = dr_grpo_loss(logp, old, ref, mask, adv, **kw)[0]
    got, g = jax.value_and_grad(lambda lp: dr_grpo_loss(lp, old, bad_ref, mask, adv, **kw)[0])(
        jnp.asarray(bad_logp)
    )
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("ratio", ["token", "sequence"])
def test_dr_grpo_gradients_numerically(ratio):
    # Ratios stay inside the clip range so the loss is smooth around the point.
    logp, old, ref, mask, adv = random_case(spread=0.02)
    old = np.where(mask, old, logp).astype(np.float32)

    def f(lp):
        return dr_grpo_loss(
            lp, old, ref, mask, adv, clip_eps=0.5, beta=0.1, max_len=7, ratio=ratio
        )[0]

    with jax.enable_x64(True):  # float64 finite differences: f32 rounding would swamp them
        check_grads(f, (jnp.asarray(logp, jnp.float64),), order=1, modes=("rev",))


def np_log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def test_sft_loss_is_token_cross_entropy():
    logits = RNG.normal(0, 2, (3, 5, 11)).astype(np.float32)
    targets = RNG.integers(0, 11, (3, 5))
    mask = RNG.random((3, 5)) < 0.6
    mask[0, 0] = True
    ls = np_log_softmax(logits)
    want = -np.mean([ls[b, t, targets[b, t]] for b in range(3) for t in range(5) if mask[b, t]])
    logp = np.take_along_axis(np_log_softmax(logits), targets[..., None], -1)[..., 0]
    loss, aux = sft_loss(logp.astype(np.float32), mask)
    assert float(loss) == pytest.approx(want, rel=1e-6)
    assert float(aux["weight"]) == mask.sum()


def test_reverse_kl_exact_over_vocabulary():
    s = RNG.normal(0, 2, (2, 4, 13)).astype(np.float32)
    t = RNG.normal(0, 2, (2, 4, 13)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], bool)
    got = np.asarray(reverse_kl(s, t, mask))
    ps, pt = np.exp(np_log_softmax(s)), np.exp(np_log_softmax(t))
    want = np.where(mask, (ps * (np.log(ps) - np.log(pt))).sum(-1), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.all(got[mask] > 0)
    np.testing.assert_allclose(np.asarray(reverse_kl(s, s, mask)), 0.0, atol=1e-6)
    with jax.enable_x64(True):
        t64 = jnp.asarray(t, jnp.float64)
        check_grads(
            lambda x: jnp.sum(reverse_kl(x, t64, mask)),
            (jnp.asarray(s, jnp.float64),),
            order=1,
            modes=("rev",),
        )
