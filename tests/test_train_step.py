"""The jitted update step: accumulation, the non-finite guard, learning direction, log-probs."""

import jax
import numpy as np
import optax
import pytest

from jaxinterest.models.qwen2 import forward
from jaxinterest.train.step import make_train_step, split_micro_batches
from tests import train_helpers as th


def copy(tree):
    """Host copies of every leaf (the step donates its input state)."""
    return jax.tree.map(np.array, tree)


def test_policy_logprobs_against_the_forward_logits():
    p = th.params()
    batch = th.packed(0)
    got = np.asarray(th.LOGPROB(p, batch))
    fwd = jax.jit(forward, static_argnums=2)
    logits = np.asarray(fwd(p, batch["tokens"], th.CFG, attention_mask=batch["attention_mask"]))
    want = np.zeros_like(got)
    for b, t in zip(*np.nonzero(batch["completion_mask"]), strict=True):
        row = logits[b, t - 1].astype(np.float64)  # the distribution token t was drawn from
        top = row.max()
        want[b, t] = row[batch["tokens"][b, t]] - top - np.log(np.exp(row - top).sum())
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.all(got[~batch["completion_mask"]] == 0)


def test_first_inner_step_has_ratio_exactly_one():
    p = th.params()
    _, aux = jax.jit(th.OBJECTIVES["grpo"])(p, th.grpo_batch(p), None, None)
    assert float(aux["ratio_min"]) == 1.0 and float(aux["ratio_max"]) == 1.0
    assert float(aux["clip_frac"]) == 0.0


def test_micro_batches_interleave_rows():
    x = np.arange(12).reshape(6, 2)
    mb = np.asarray(split_micro_batches({"x": x}, 3)["x"])
    np.testing.assert_array_equal(mb[1], x[[1, 4]])
    with pytest.raises(ValueError, match="equal micro-batches"):
        split_micro_batches({"x": x}, 4)


def test_per_row_outputs_come_back_in_row_order():
    """aux["rows"] of every micro-batch is gathered back into the batch's own row order (the
    micro-batches interleave rows), whatever the split, and is not averaged like scalar aux."""
    import jax.numpy as jnp

    from jaxinterest.train.state import init_state

    def objective(params, batch, rng, frozen):
        del rng, frozen
        loss = jnp.mean((batch["x"] @ params["w"]) ** 2)
        return loss, {"rows": {"id": batch["id"] * 1.0, "xw": batch["x"] @ params["w"]}}

    x = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    want_xw = x @ np.ones(3, np.float32)
    for m in (1, 3):
        state = init_state({"w": jnp.ones(3)}, th.OPTIMIZER, jax.random.key(0))
        step = make_train_step(objective, th.OPTIMIZER, micro_batches=m)
        _, metrics = step(state, {"x": x, "id": np.arange(12)})
        np.testing.assert_array_equal(np.asarray(metrics["rows"]["id"]), np.arange(12), str(m))
        np.testing.assert_allclose(np.asarray(metrics["rows"]["xw"]), want_xw, rtol=1e-6)


@pytest.mark.parametrize("kind", ["grpo", "sft"])
def test_accumulation_equals_one_big_batch(kind):
    """4 micro-batches == 1 batch, in metrics (loss, grad norm, aux) and in updated params ==
    the optimiser applied to jax.grad of the objective on the whole batch. For SFT the
    micro-batches hold different token counts, so an unweighted mean would differ."""
    p = th.params()
    batch = th.grpo_batch(p, off_policy=0.3) if kind == "grpo" else th.packed(3)
    if kind == "sft":
        counts = split_micro_batches(batch, 4)["completion_mask"].sum(axis=(1, 2))
        assert len(set(np.asarray(counts).tolist())) > 1
    objective = th.OBJECTIVES[kind]
    full = jax.jit(jax.grad(lambda q: objective(q, batch, None, None)[0]))(p)
    results = []
    for m in (1, 4):
        state, metrics = th.step(kind, m)(th.fresh_state(), batch)
        results.append((copy(state.params), jax.device_get(metrics)))
    (p1, m1), (p4, m4) = results
    assert m1.keys() == m4.keys()
    if kind == "grpo":  # extremes are extremes over the whole batch, not means of micro-batches
        assert m1["ratio_max"] > 1.2 and m1["ratio_min"] < 0.8 and m1["clip_frac"] > 0
    # Per-token shares (clip_frac, kl, ratio_mean) are means of micro-batch values, which
    # differ from the batch's token mean when micro-batches hold different token counts.
    for k in m1.keys() - {"clip_frac", "kl", "ratio_mean"}:
        np.testing.assert_allclose(m4[k], m1[k], rtol=2e-6, atol=1e-7, err_msg=k)
    assert float(m1["grad_norm"]) == pytest.approx(float(optax.tree.norm(full)), rel=1e-6)
    replay = jax.jit(lambda q, g: th.OPTIMIZER.update(g, th.OPTIMIZER.init(q), q)[0])
    want = copy(optax.apply_updates(p, replay(p, full)))
    for got in (p1, p4):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6), got, want)


def test_nonfinite_step_is_skipped_and_counted():
    p = th.params()
    good = th.grpo_batch(p)
    bad = dict(good, advantages=good["advantages"].copy())
    bad["advantages"][0] = np.nan
    step = th.step("grpo", 1)
    state, _ = step(th.fresh_state(), good)
    before = copy((state.params, state.opt_state))
    state, m = step(state, bad)
    assert int(m["nonfinite"]) == 1 and int(m["skipped"]) == 1
    assert int(state.step) == 2 and int(state.skipped) == 1
    jax.tree.map(np.testing.assert_array_equal, before, copy((state.params, state.opt_state)))
    # Training continues; the schedule resumes where the last applied update left it.
    state, m = step(state, good)
    assert int(m["nonfinite"]) == 0 and int(state.step) == 3
    assert float(m["lr"]) == pytest.approx(float(th.SCHEDULE(1)))
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(copy(state.params)))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_grpo_steps_move_probability_toward_positive_advantage(sign):
    """One prompt, two completions (4 rows each) with advantages +sign / -sign: a few steps
    raise the log-prob of the favoured completion and lower the other's; flipping the sign
    flips the movement."""
    p = th.params()
    one = th.packed(5, rows=2)
    batch = {k: np.repeat(v[:1], th.ROWS, axis=0) for k, v in one.items()}
    cm = batch["completion_mask"][0]
    batch["tokens"][4:, cm] = (batch["tokens"][0, cm] % 90) + 3  # a different completion
    batch["ref_logp"] = np.zeros(batch["tokens"].shape, np.float32)
    batch["advantages"] = np.repeat(np.array([sign, -sign], np.float32), 4)
    start = np.asarray(th.LOGPROB(p, batch)).sum(axis=1)
    state = th.fresh_state()
    for _ in range(4):
        batch["old_logp"] = np.asarray(th.LOGPROB(state.params, batch))
        batch["ref_logp"] = batch["old_logp"]
        state, _ = th.step("grpo", 1)(state, batch)
    moved = np.asarray(th.LOGPROB(state.params, batch)).sum(axis=1) - start
    assert sign * moved[0] > 0.2 and sign * moved[4] < -0.2, moved
