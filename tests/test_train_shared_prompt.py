"""Shared prompts in the GRPO update: a group's prompt run once (`shared_prompt_hidden`,
`prompt_group`) gives the hidden states, log-probs, entropies, loss and gradients of running
it once per row; `UpdateStep` takes that path only for batches whose groups really share it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import hidden_states
from jaxinterest.models.qwen2.model import shared_prompt_hidden
from jaxinterest.sampling import pack
from jaxinterest.train import OptimConfig, create_state
from jaxinterest.train.grpo import GRPOConfig, make_update, shares_prompts
from jaxinterest.train.objectives import completion_logprobs_entropy
from tests.qwen2_helpers import random_params, tiny_config

WIDTH = 6


def _grouped(cfg, seed=0, prompts=3, group=4, prompt=9):
    """A rollout-like batch: `prompts` prompts of different lengths (left-padded to `prompt`),
    `group` completions of different lengths each (some shorter than WIDTH)."""
    rng = np.random.default_rng(seed)
    ps = [
        list(rng.integers(1, cfg.vocab_size, rng.integers(2, prompt + 1))) for _ in range(prompts)
    ]
    rows = [p for p in ps for _ in range(group)]
    comps = [list(rng.integers(1, cfg.vocab_size, rng.integers(1, WIDTH + 1))) for _ in rows]
    batch = pack(rows, comps, 0, prompt, WIDTH)
    batch["advantages"] = rng.normal(0, 1, len(rows)).astype(np.float32)
    return batch


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": False, "qkv_bias": True}])
def test_shared_prompt_hidden_equals_per_row_hidden(overrides):
    cfg = tiny_config(**overrides)
    params = random_params(cfg, seed=4)
    batch = _grouped(cfg)
    tokens, mask = batch["tokens"], batch["attention_mask"]
    p = tokens.shape[1] - WIDTH
    want = np.asarray(jax.jit(hidden_states, static_argnums=2)(params, tokens, cfg,
                                                               attention_mask=mask))  # fmt: skip
    fn = jax.jit(shared_prompt_hidden, static_argnames=("cfg", "group"))
    prompt_h, own_h = fn(params, tokens[::4, :p], mask[::4, :p], tokens[:, p:], mask[:, p:],
                         cfg=cfg, group=4)  # fmt: skip
    real = mask.astype(bool)
    np.testing.assert_allclose(np.asarray(own_h)[real[:, p:]], want[:, p:][real[:, p:]], atol=2e-6)
    prompt_real = real[::4, :p]
    np.testing.assert_allclose(np.asarray(prompt_h)[prompt_real], want[::4, :p][prompt_real],
                               atol=2e-6)  # fmt: skip
    assert np.abs(want[:, p:][real[:, p:]]).sum() > 1


def test_shared_logprobs_entropy_and_gradients_match():
    """In float64, so that the only difference left (the order in which a group's prompt
    gradients are summed) is far below the tolerance; float32 agrees to its own rounding."""
    cfg = tiny_config()
    with jax.enable_x64(True):
        params = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), random_params(cfg, seed=2))
        batch = {k: jnp.asarray(v) for k, v in _grouped(cfg, seed=1).items()}
        weights = jnp.asarray(np.random.default_rng(0).normal(size=batch["tokens"].shape))

        def loss(params, group):
            logp, entropy = completion_logprobs_entropy(params, batch, cfg, WIDTH, group)
            return jnp.sum(logp * weights), (logp, entropy)

        run = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
        (l1, (lp1, en1)), g1 = jax.device_get(run(params, 1))
        (l4, (lp4, en4)), g4 = jax.device_get(run(params, 4))
    assert lp1.dtype == np.float64 and np.abs(lp1).sum() > 1
    np.testing.assert_allclose(lp4, lp1, rtol=0, atol=1e-12)
    scored = np.asarray(batch["completion_mask"])[:, -WIDTH:].astype(bool)
    assert scored.sum() > 10
    np.testing.assert_allclose(en4[scored], en1[scored], rtol=0, atol=1e-12)
    np.testing.assert_allclose(l4, l1, rtol=1e-12)
    for a, b in zip(jax.tree.leaves(g4), jax.tree.leaves(g1), strict=True):
        assert np.abs(b).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)


def test_shares_prompts_detects_a_differing_row():
    cfg = tiny_config()
    batch = _grouped(cfg)
    assert shares_prompts(batch, 4, WIDTH)
    assert not shares_prompts(batch, 3, WIDTH)  # 12 rows, but groups of 3 straddle prompts
    assert not shares_prompts(batch, 1, WIDTH)
    other = dict(batch, tokens=batch["tokens"].copy())
    other["tokens"][5, -WIDTH - 1] += 1  # one row's last prompt token
    assert not shares_prompts(other, 4, WIDTH)
    other = dict(batch, attention_mask=batch["attention_mask"].copy())
    other["attention_mask"][6, 0] = ~other["attention_mask"][6, 0]
    assert not shares_prompts(other, 4, WIDTH)


@pytest.mark.parametrize("micro_batches", [1, 2])
def test_update_step_takes_the_shared_path_with_the_same_result(micro_batches):
    cfg = tiny_config()
    params = random_params(cfg, seed=5)
    gcfg = GRPOConfig(
        world="-", policy="-", prompts_per_step=3, group_size=4, max_new_tokens=WIDTH,
        micro_batches=micro_batches, optim=OptimConfig(lr=1e-3, warmup_steps=0, total_steps=10),
    )  # fmt: skip
    optimizer, step = make_update(gcfg, cfg)
    assert step.shared is not None and step.group == 4
    batch = _grouped(cfg, seed=3)
    batch["old_logp"] = np.zeros(batch["tokens"].shape, np.float32)
    batch["fresh"] = np.ones(len(batch["advantages"]), bool)
    out = {}
    for name, fn in (("plain", step.plain), ("shared", step.shared), ("dispatch", step)):
        state = create_state(params, optimizer, jax.random.key(0))
        state, metrics = fn(state, batch)
        out[name] = jax.device_get((state.params, metrics))
    for name in ("shared", "dispatch"):
        m, want = out[name][1], out["plain"][1]
        np.testing.assert_allclose(m["loss"], want["loss"], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(m["grad_norm"], want["grad_norm"], rtol=1e-5)
        np.testing.assert_allclose(m["rows"]["logp"], want["rows"]["logp"], atol=2e-6)
        np.testing.assert_allclose(m["rows"]["entropy_sum"], want["rows"]["entropy_sum"],
                                   rtol=1e-5)  # fmt: skip
    # the dispatcher ran the shared program: bit-identical to calling it directly
    for a, b in zip(jax.tree.leaves(out["dispatch"]), jax.tree.leaves(out["shared"]), strict=True):
        np.testing.assert_array_equal(a, b)
    # a batch whose rows do not share prompts runs the plain program, bit for bit
    other = dict(batch, tokens=batch["tokens"].copy())
    other["tokens"][1, -WIDTH - 1] += 1
    res = []
    for fn in (step, step.plain):
        state = create_state(params, optimizer, jax.random.key(0))
        res.append(jax.device_get(fn(state, other)[1]["rows"]["logp"]))
    np.testing.assert_array_equal(res[0], res[1])


def test_micro_batches_that_break_groups_have_no_shared_path():
    cfg = tiny_config()
    gcfg = GRPOConfig(world="-", policy="-", prompts_per_step=4, group_size=2,
                      max_new_tokens=WIDTH, micro_batches=4)  # fmt: skip
    assert make_update(gcfg, cfg)[1].shared is None
