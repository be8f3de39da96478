"""One GRPO rollout on a small world: packed batch shapes, group advantages, the sampler's
log-probs, the update's entropy and sampler/trainer mismatch (from its own forward, equal to a
separate pi_old forward's), and the first inner update's ratio of exactly 1.

The rewards here are a stand-in (`TextReward`, a fixed function of the answer text) so the
test measures the rollout's plumbing, not the encoder; the real rewards run in
test_train_learning.py and the quickstart test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxinterest.data.columns import column
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.rewards.combine import Rewards
from jaxinterest.rewards.config import SIGNALS
from jaxinterest.sampling import generate
from jaxinterest.train.grpo import GRPOConfig, make_update, shares_prompts, update
from jaxinterest.train.optim import OptimConfig, make_schedule
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
    for k in ("tokens", "attention_mask", "completion_mask", "sampler_logp"):
        assert b[k].shape == (rows, width), k
    assert b["advantages"].shape == (rows,) and "ref_logp" not in b  # beta = 0: no reference
    assert "old_logp" not in b  # pi_old is the first update's own forward (grpo.update)
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
    assert shares_prompts(b, G, N)  # so `grpo.update` runs each prompt once per group
    assert np.all(b["sampler_logp"][~b["completion_mask"].astype(bool)] == 0)
    assert np.all(b["sampler_logp"][b["completion_mask"].astype(bool)] < 0)
    m = ro.metrics
    want = {"reward_mean", "reward_std", "advantage_std", "valid_share", "completion_tokens",
            "rollout_tokens_per_s", "seconds_rollout", "seconds_reward",
            "seconds_logprobs"}  # fmt: skip
    want |= {f"{s}_{k}_{x}" for s in SIGNALS for k in ("raw", "norm") for x in ("mean", "std")}
    assert want <= m.keys()
    assert m["reward_mean"] == pytest.approx(float(np.mean(ro.rewards.total)))
    assert m["completion_tokens"] == pytest.approx(b["completion_mask"].sum(1).mean())


def test_sampler_logprobs_are_the_samplers(setup):
    """batch["sampler_logp"] holds the sampler's raw log-probs of the completion tokens,
    recomputed here from a second generate() call with the same key (same samples)."""
    import jax

    policy, _, prompts = setup
    ro = rollout(setup, key=5)
    cfg = GRPOConfig(group_size=G, max_new_tokens=N)
    gen = generate(policy.params, policy.cfg, prompts, cfg.sampling(policy.stop_ids),
                   key=jax.random.key(5), pad_id=policy.pad_id)  # fmt: skip
    mask = ro.batch["completion_mask"][:, -N:].astype(bool)
    assert np.array_equal(gen.tokens[mask], ro.batch["tokens"][:, -N:][mask])
    np.testing.assert_array_equal(ro.batch["sampler_logp"][:, -N:][mask], gen.logprobs_raw[mask])


def reference_objective(model_cfg, max_len):
    """The update objective as it was before the per-row outputs, written out here: one
    forward, pi_old = its stop-gradient on fresh rows, Dr.GRPO loss, nothing else."""
    import jax
    import jax.numpy as jnp

    from jaxinterest.train.losses import dr_grpo_loss
    from jaxinterest.train.objectives import policy_logprobs

    def objective(params, batch, rng, frozen):
        logp = policy_logprobs(params, batch, model_cfg, max_len)
        fresh = batch["fresh"].astype(bool)[:, None]
        old = jnp.where(fresh, jax.lax.stop_gradient(logp), batch["old_logp"])
        return dr_grpo_loss(logp, old, None, batch["completion_mask"], batch["advantages"],
                            clip_eps=0.2, beta=0.0, max_len=max_len)  # fmt: skip

    return objective


def separate_forward_metrics(policy, batch):
    """What the removed pi_old forward computed: log-probs [R, T], the mean entropy over the
    completion tokens (exact over V, float64 here) and |old_logp - sampler| over them."""
    import jax

    from jaxinterest.train.objectives import completion_log_softmax

    lsm = np.asarray(jax.jit(completion_log_softmax, static_argnums=(2, 3))(
        policy.params, batch, policy.cfg, N), np.float64)  # fmt: skip
    mask = batch["completion_mask"].astype(bool)
    window = mask[:, -N:]
    logp = np.zeros(mask.shape)
    picked = np.take_along_axis(lsm, batch["tokens"][:, -N:, None], axis=-1)[..., 0]
    logp[:, -N:] = np.where(window, picked, 0.0)
    entropy = -(np.exp(lsm) * lsm).sum(-1)[window].mean()
    diff = np.abs(logp - batch["sampler_logp"])[mask]
    return logp, entropy, diff


def test_update_metrics_equal_a_separate_forward_and_params_are_unchanged(setup):
    """The entropy and sampler mismatch that `update` reads off the first epoch's forward equal
    those of a separate pi_old forward (the code path they replace), and the update's params
    are bitwise those of the plain objective without per-row outputs. The metrics come from the
    shared-prompt program `update` runs on a rollout batch; the bitwise comparison is on the
    plain program (`step.plain`), whose forward is the reference objective's
    (test_train_shared_prompt.py holds the shared program to the plain one).

    Tolerances: the two forwards are different XLA programs (forward alone vs inside
    value_and_grad), so their log-probs agree only to float32 rounding, measured here (dlogp).
    By the triangle inequality the mismatch mean and max differ by at most max |dlogp|; the
    entropy (a float32 sum over V = 8,192 terms of magnitude ~1e-3 each, ~9 in total) is held
    to 2e-6 relative, about ten float32 ulps of the sum. Two micro-batches, so the per-row
    outputs also go through the interleaved split and back."""
    import jax

    from jaxinterest.train.step import make_train_step

    policy, micro_batches = setup[0], 2
    ro = rollout(setup, key=7)
    cfg = GRPOConfig(group_size=G, max_new_tokens=N, micro_batches=micro_batches,
                     optim=OptimConfig(lr=1e-2, warmup_steps=0, total_steps=4))  # fmt: skip
    optimizer, step = make_update(cfg, policy.cfg)
    state = create_state(jax.tree.map(np.array, policy.params), optimizer, jax.random.key(0))
    direct, m = step(
        state,
        ro.batch
        | {"fresh": np.ones(B * G, bool), "old_logp": np.zeros_like(ro.batch["sampler_logp"])},
    )
    rows = jax.device_get(m["rows"])
    logp, entropy, diff = separate_forward_metrics(policy, ro.batch)
    dlogp = np.abs(rows["logp"] - logp).max()
    assert dlogp < 1e-5, dlogp  # rows come back in row order, on the same tokens
    assert np.all(rows["logp"][~ro.batch["completion_mask"].astype(bool)] == 0)

    state = create_state(jax.tree.map(np.array, policy.params), optimizer, jax.random.key(0))
    state, um = update(state, ro.batch, step, 1)
    assert um["entropy"] == pytest.approx(entropy, rel=2e-6)
    assert abs(um["mismatch_mean"] - diff.mean()) <= dlogp + 1e-7
    assert abs(um["mismatch_max"] - diff.max()) <= dlogp + 1e-7
    assert 0 < um["mismatch_max"] < 1e-3  # same weights, float32 both sides
    assert "rows" not in um

    plain = make_train_step(reference_objective(policy.cfg, N), optimizer,
                            micro_batches=micro_batches,
                            schedule=make_schedule(cfg.optim))  # fmt: skip
    ref = create_state(jax.tree.map(np.array, policy.params), optimizer, jax.random.key(0))
    batch = {k: v for k, v in ro.batch.items() if k != "sampler_logp"}
    ref, _ = plain(
        ref,
        batch
        | {"fresh": np.ones(B * G, bool), "old_logp": np.zeros_like(batch["tokens"], np.float32)},
    )
    assert step.shared is not None
    state = create_state(jax.tree.map(np.array, policy.params), optimizer, jax.random.key(0))
    state, _ = update(state, ro.batch, step.plain, 1)
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
                        state.params, ref.params)  # fmt: skip
    assert all(jax.tree.leaves(same)), same
    moved = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
                         direct.params, jax.tree.map(np.array, policy.params))  # fmt: skip
    assert not all(jax.tree.leaves(moved))


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
    batch = {k: v for k, v in ro.batch.items() if k != "sampler_logp"}
    unread = np.full(batch["tokens"].shape, np.nan, np.float32)  # fresh rows never read it
    state, m1 = step(state, batch | {"fresh": np.ones(B * G, bool), "old_logp": unread})
    m1 = jax.device_get(m1)
    assert float(m1["ratio_min"]) == 1.0 and float(m1["ratio_max"]) == 1.0, m1
    assert float(m1["clip_frac"]) == 0.0
    # epoch 2 reads pi_old = epoch 1's own log-probs (what `update` passes on)
    old = m1["rows"]["logp"]
    _, m2 = step(state, batch | {"fresh": np.zeros(B * G, bool), "old_logp": old})
    assert float(m2["ratio_max"]) - float(m2["ratio_min"]) > 1e-3
    # and `update` reports epoch 1 apart
    state = create_state(jax.tree.map(np.array, fresh), optimizer, jax.random.key(0))
    _, um = update(state, ro.batch, step, 2)
    assert um["ratio_first"] == 1.0 and um["clip_first"] == 0.0
    assert um["nonfinite"] == 0 and um["skipped"] == 0


def test_the_reward_models_query_count_and_encoder_time_are_logged(setup, tmp_path):
    """With the real RewardModel, each iteration logs the batch's distinct queries (what the
    reward's encoder time scales with) and that encoder call's seconds. A random policy writes
    no list, so the model scores fixed lists in place of the samples."""
    from jaxinterest.rewards import RewardConfig, build_rewards

    model = build_rewards(small_world(tmp_path / "world"), RewardConfig())
    lists = ['["storm news", "city council", "storm news update", "rates", "harbor bridge"]',
             '["rates", "market rally", "storm news", "vote count", "budget"]']  # fmt: skip

    class FixedLists:
        def prepare(self, user_ids, progress=False):
            model.prepare(user_ids)

        def score(self, user_ids, texts):
            return model.score(user_ids, [lists[i % 2] for i in range(len(texts))])

    m = rollout(setup, FixedLists()).metrics
    queries = {q for t in lists for q in json.loads(t)}
    assert m["reward_distinct_queries"] == len(queries) == 8
    assert 0 < m["seconds_reward_embed"] <= m["seconds_reward"]
