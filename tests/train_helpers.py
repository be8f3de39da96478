"""Shared pieces of the train tests: a tiny policy, packed GRPO / SFT batches, cached steps.

Every jitted function here is built once per process (compiling the update step dominates
these tests' time), and every batch has the same [8, 11] shape so the compiled steps are reused.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from jaxinterest.models.qwen2 import init_params
from jaxinterest.sampling import pack
from jaxinterest.train.objectives import grpo_objective, logprob_fn, sft_objective
from jaxinterest.train.optim import OptimConfig, make_optimizer, make_schedule
from jaxinterest.train.state import init_state
from jaxinterest.train.step import make_train_step
from tests.qwen2_helpers import tiny_config

CFG = tiny_config(vocab_size=97, hidden_size=32, intermediate_size=48, head_dim=8)
# eps 1e-4 (Adam's default is 1e-8) sits above most of this tiny model's gradient entries, so
# the update lr * m / (sqrt(v) + eps) is a smooth function of the gradient: float rounding
# differences between equivalent computations (micro-batches, shardings, processes) then stay
# rounding-sized in the params instead of being amplified by up to lr / eps.
OPTIM = OptimConfig(
    lr=1e-2, warmup_steps=0, total_steps=20, weight_decay=0.01, clip_norm=1.0, eps=1e-4
)
OPTIMIZER = make_optimizer(OPTIM)
SCHEDULE = make_schedule(OPTIM)
MAX_LEN, ROWS, PROMPT = 6, 8, 5
BETA = 0.1
LOGPROB = logprob_fn(CFG)
OBJECTIVES = {
    "grpo": grpo_objective(CFG, clip_eps=0.2, beta=BETA, max_len=MAX_LEN),
    "sft": sft_objective(CFG),
}


@functools.cache
def params(seed: int = 0):
    return init_params(CFG, jax.random.key(seed))


_init = jax.jit(lambda p, k: init_state(p, OPTIMIZER, k))


def fresh_state(seed: int = 0):
    return _init(params(seed), jax.random.key(seed + 7))


@functools.cache
def step(kind: str = "grpo", micro_batches: int = 1):
    return make_train_step(
        OBJECTIVES[kind], OPTIMIZER, micro_batches=micro_batches, schedule=SCHEDULE
    )


def packed(seed: int = 0, rows: int = ROWS):
    """Random prompts and completions of varied lengths in the sampler's packed layout."""
    rng = np.random.default_rng(seed)

    def draw(longest):
        return [
            list(rng.integers(1, CFG.vocab_size, rng.integers(1, longest + 1))) for _ in range(rows)
        ]

    return pack(draw(PROMPT), draw(MAX_LEN), 0, PROMPT, MAX_LEN)


def grpo_batch(p, seed: int = 0, off_policy: float = 0.0):
    """A packed batch with pi_old recomputed from params p (plus normal noise of scale
    `off_policy` on the completion tokens, so that ratios differ from 1), a reference slightly
    off it, and random advantages."""
    batch = packed(seed)
    noise = np.random.default_rng(seed + 2).normal(0, off_policy, batch["tokens"].shape)
    batch["old_logp"] = np.asarray(LOGPROB(p, batch)) + (noise * batch["completion_mask"]).astype(
        np.float32
    )
    batch["ref_logp"] = batch["old_logp"] - 0.1 * batch["completion_mask"]
    batch["advantages"] = np.random.default_rng(seed + 1).normal(0, 1, ROWS).astype(np.float32)
    return batch
