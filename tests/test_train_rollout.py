"""One GRPO rollout on a small world: packed batch shapes, group advantages, pi_old from the
trainer's forward, the sampler/trainer mismatch, and the first inner update's ratio of exactly 1.

The rewards here are a stand-in (`TextReward`, a fixed function of the answer text) so the
test measures the rollout's plumbing, not the encoder; the real rewards run in
test_train_learning.py and the quickstart test."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterest.data.columns import column
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.rewards.combine import Rewards
from jaxinterest.rewards.config import SIGNALS
from jaxinterest.sampling import generate
from jaxinterest.train.grpo import GRPOConfig, make_update, update
from jaxinterest.train.optim import OptimConfig
from jaxinterest.train.policy import load_policy
from jaxinterest.train.queries import user_prompts
from jaxinterest.train.rollout import collect
from jaxinterest.train.state import create_state

PROMPT = PromptConfig(max_prompt_tokens=200, system_prompt="You write news search queries.")
B, G, N = 2, 4, 8


class TextReward:
    """A deterministic stand-in for `rewards.RewardModel`: each signal is a fixed function of
    the answer text; `nan_calls` makes the given score() calls return NaN totals."""

    def __init__(self, nan_calls=()):
        self.calls, self.nan_calls, self.prepared = 0, set(nan_calls), []

    def prepare(self, user_ids, progress=False):
        self.prepared.extend(user_ids)

    def score(self, user_ids, texts):
        n = len(texts)
        raw = {s: np.zeros(n, np.float32) for s in SIGNALS}
        raw["struct"] = np.array([t.count("\n") / 5 for t in texts], np.float32)
        raw["div"] = np.array([len(set(t.split())) / 10 for t in texts], np.float32)
        total = raw["struct"] + raw["div"] + np.array([(len(t) % 7) / 7 for t in texts])
        if self.calls in self.nan_calls:
            total = np.full(n, np.nan)
        self.calls += 1
        return Rewards(
            raw=raw,
            norm={s: np.clip(v, 0, 1) for s, v in raw.items()},
            total=total.astype(np.float32),
            valid=raw["struct"] > 0,
            reasons=("",) * n,
            queries=((),) * n,
            judge=("stand-in",) * n,
        )


def small_world(path, seed=3):
    generate_world(make_config("tiny", seed=seed, n_news=800, n_users=60), path, progress=False)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from jaxinterest.data.io import load_world

    world = load_world(small_world(tmp_path_factory.mktemp("rollout") / "world"))
    policy = load_policy("preset:tiny-1m", seed=1)
    users = list(column(world.users, "user_id"))[:B]
    prompts = user_prompts(world, users, policy.tokenizer, PROMPT)
    return policy, users, prompts


def rollout(setup, reward=None, key=0):
    import jax

    policy, users, prompts = setup
    cfg = GRPOConfig(group_size=G, max_new_tokens=N, temperature=1.0)
    return collect(policy, prompts, users, cfg.sampling(policy.stop_ids), reward or TextReward(),
                   key=jax.random.key(key), prompt_width=PROMPT.max_prompt_tokens)  # fmt: skip


def test_batch_shapes_advantages_and_logged_fields(setup):
    reward = TextReward()
    ro = rollout(setup, reward)
    b = ro.batch
    rows, width = B * G, PROMPT.max_prompt_tokens + N
    for k in ("tokens", "attention_mask", "completion_mask", "old_logp"):
        assert b[k].shape == (rows, width), k
    assert b["advantages"].shape == (rows,) and "ref_logp" not in b  # beta = 0: no reference
    assert len(ro.texts) == rows and reward.prepared == setup[1]
    # prompt-major rows: each group's advantages are its rewards minus the group mean
    total = ro.rewards.total.reshape(B, G)
    np.testing.assert_allclose(
        b["advantages"].reshape(B, G), total - total.mean(1, keepdims=True), atol=1e-6
    )
    assert np.std(b["advantages"]) > 0  # the stand-in reward separates samples
    # every prompt's G rows carry that prompt, left-padded into the prompt columns
    for i, p in enumerate(setup[2]):
        for r in range(i * G, (i + 1) * G):
            assert b["tokens"][r, PROMPT.max_prompt_tokens - len(p) : PROMPT.max_prompt_tokens
                               ].tolist() == p  # fmt: skip
    assert not b["completion_mask"][:, : PROMPT.max_prompt_tokens].any()
    assert np.all(b["old_logp"][~b["completion_mask"].astype(bool)] == 0)
    assert np.all(b["old_logp"][b["completion_mask"].astype(bool)] < 0)
    m = ro.metrics
    want = {"reward_mean", "reward_std", "advantage_std", "valid_share", "completion_tokens",
            "entropy", "mismatch_mean", "mismatch_max", "rollout_tokens_per_s",
            "seconds_rollout", "seconds_reward", "seconds_logprobs"}  # fmt: skip
    want |= {f"{s}_{k}_{x}" for s in SIGNALS for k in ("raw", "norm") for x in ("mean", "std")}
    assert want <= m.keys()
    assert m["reward_mean"] == pytest.approx(float(np.mean(ro.rewards.total)))
    assert m["completion_tokens"] == pytest.approx(b["completion_mask"].sum(1).mean())


def test_mismatch_is_the_sampler_against_the_trainer(setup):
    """mismatch_* equal |old_logp - the sampler's raw log-probs| over completion tokens,
    recomputed here from a second generate() call with the same key (same samples)."""
    import jax

    policy, _, prompts = setup
    ro = rollout(setup, key=5)
    cfg = GRPOConfig(group_size=G, max_new_tokens=N)
    gen = generate(policy.params, policy.cfg, prompts, cfg.sampling(policy.stop_ids),
                   key=jax.random.key(5), pad_id=policy.pad_id)  # fmt: skip
    mask = ro.batch["completion_mask"][:, -N:].astype(bool)
    assert np.array_equal(gen.tokens[mask], ro.batch["tokens"][:, -N:][mask])
    diff = np.abs(ro.batch["old_logp"][:, -N:][mask] - gen.logprobs_raw[mask])
    assert ro.metrics["mismatch_mean"] == pytest.approx(diff.mean(), rel=1e-6, abs=1e-12)
    assert ro.metrics["mismatch_max"] == pytest.approx(diff.max(), rel=1e-6, abs=1e-12)
    assert ro.metrics["mismatch_max"] < 1e-3  # same weights, float32 both sides


def test_first_inner_update_has_ratio_exactly_one(setup):
    """Epoch 1 of `update` sees ratio 1 bit for bit (min = max = 1, nothing clipped); epoch 2
    is off-policy by epoch 1's step and its ratios move."""
    import jax

    policy = setup[0]
    ro = rollout(setup, key=2)
    cfg = GRPOConfig(group_size=G, max_new_tokens=N, inner_epochs=2,
                     optim=OptimConfig(lr=1e-2, warmup_steps=0, total_steps=4))  # fmt: skip
    optimizer, step = make_update(cfg, policy.cfg)
    fresh = jax.tree.map(np.array, policy.params)
    state = create_state(fresh, optimizer, jax.random.key(0))
    state, m1 = step(state, ro.batch | {"fresh": np.ones(B * G, bool)})
    m1 = jax.device_get(m1)
    assert float(m1["ratio_min"]) == 1.0 and float(m1["ratio_max"]) == 1.0, m1
    assert float(m1["clip_frac"]) == 0.0
    _, m2 = step(state, ro.batch | {"fresh": np.zeros(B * G, bool)})
    assert float(m2["ratio_max"]) - float(m2["ratio_min"]) > 1e-3
    # and `update` reports epoch 1 apart
    state = create_state(jax.tree.map(np.array, fresh), optimizer, jax.random.key(0))
    _, um = update(state, ro.batch, step, 2)
    assert um["ratio_first"] == 1.0 and um["clip_first"] == 0.0
    assert um["nonfinite"] == 0 and um["skipped"] == 0
