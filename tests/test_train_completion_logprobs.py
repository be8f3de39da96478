"""`completion_width`: the LM head over the completion columns only gives the full-head log-probs,
objective values and gradients (untied head included)."""

import jax
import numpy as np
import pytest

from jaxinterest.models.qwen2 import forward
from jaxinterest.sampling import pack
from jaxinterest.train.objectives import (
    completion_log_softmax,
    grpo_objective,
    policy_logprobs,
    sft_objective,
)
from tests.qwen2_helpers import random_params, tiny_config

WIDTH = 6
logprobs = jax.jit(policy_logprobs, static_argnames=("cfg", "completion_width"))


def _batch(cfg, seed=0, rows=5, prompt=7):
    rng = np.random.default_rng(seed)
    prompts = [
        list(rng.integers(1, cfg.vocab_size, rng.integers(1, prompt + 1))) for _ in range(rows)
    ]
    comps = [list(rng.integers(1, cfg.vocab_size, rng.integers(1, WIDTH + 1))) for _ in range(rows)]
    batch = pack(prompts, comps, 0, prompt, WIDTH)
    batch["old_logp"] = rng.normal(-3, 0.2, batch["tokens"].shape).astype(np.float32)
    batch["advantages"] = rng.normal(0, 1, rows).astype(np.float32)
    return batch


@pytest.mark.parametrize("tied", [True, False])
def test_completion_head_equals_full_head(tied):
    cfg = tiny_config(tie_embeddings=tied)
    params = random_params(cfg, seed=3)
    batch = _batch(cfg)
    full = np.asarray(logprobs(params, batch, cfg))
    part = np.asarray(logprobs(params, batch, cfg, WIDTH))
    assert full.shape == part.shape
    assert np.abs(full).sum() > 1  # completion tokens were scored
    np.testing.assert_allclose(part, full, rtol=0, atol=2e-6)
    # the log-softmax rows are the full model's rows at the positions before each completion token
    lsm = np.asarray(
        jax.jit(completion_log_softmax, static_argnums=(2, 3))(params, batch, cfg, WIDTH)
    )
    t = batch["tokens"].shape[1]
    logits = jax.jit(forward, static_argnums=2)(
        params, batch["tokens"], cfg, attention_mask=batch["attention_mask"]
    )
    want = np.asarray(jax.nn.log_softmax(logits, axis=-1))[:, t - WIDTH - 1 : t - 1]
    np.testing.assert_allclose(lsm, want, atol=2e-6)


def test_objectives_and_gradients_match():
    cfg = tiny_config()
    params = random_params(cfg, seed=1)
    batch = _batch(cfg, seed=2)
    sft = [jax.jit(sft_objective(cfg, w))(params, batch, None, None)[0] for w in (None, WIDTH)]
    np.testing.assert_allclose(float(sft[1]), float(sft[0]), rtol=1e-6)
    kw = dict(clip_eps=0.2, beta=0.0, max_len=WIDTH)
    full, part = grpo_objective(cfg, **kw), grpo_objective(cfg, **kw, completion_width=WIDTH)
    (lf, _), gf = jax.jit(jax.value_and_grad(full, has_aux=True))(params, batch, None, None)
    (lp, _), gp = jax.jit(jax.value_and_grad(part, has_aux=True))(params, batch, None, None)
    np.testing.assert_allclose(float(lp), float(lf), rtol=1e-6)
    assert float(lf) != 0
    for a, b in zip(jax.tree.leaves(gp), jax.tree.leaves(gf), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)


def test_width_out_of_range_is_an_error():
    cfg = tiny_config()
    batch = _batch(cfg)
    t = batch["tokens"].shape[1]
    with pytest.raises(ValueError, match="completion_width"):
        policy_logprobs(random_params(cfg), batch, cfg, t)
