"""One GRPO rollout: prompts -> G samples each -> host rewards -> advantages -> a packed batch.

    sample (sampler, SamplingParams with num_samples=G) -> decode to text
      -> rewards (host: RewardModel.score on (user, text) pairs) -> Dr.GRPO advantages
      -> pack prompt + completion ([R, P + N], R = B * G rows, prompt-major)
      -> pi_old log-probs (and entropy) from the trainer's own forward, pi_ref if beta > 0

pi_old comes from the trainer's forward (`completion_stats`), never from the sampler; the first
inner update goes further and uses the stop-gradient of its own log-probs (`grpo.update`), so
its ratio is exactly 1 whatever the sampler's kernels do. The sampler's own
raw log-probs are compared with it on every completion token: `mismatch_mean` / `mismatch_max`
(|d log p|) are the rollout/trainer disagreement that silently biases GRPO when it grows.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.models.qwen2 import gather_logprobs
from jaxinterest.rewards.config import SIGNALS
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.train.losses import group_advantages
from jaxinterest.train.objectives import completion_log_softmax, policy_logprobs


def completion_stats(params, batch, cfg, width: int):
    """(log-probs [B, T] float32 as `policy_logprobs(..., completion_width=width)`, mean entropy
    [] of the policy's next-token distributions over the completion tokens, exact over V)."""
    lsm = completion_log_softmax(params, batch, cfg, width)  # [B, C, V]
    mask = batch["completion_mask"][:, -width:].astype(bool)
    logp = gather_logprobs(lsm, batch["tokens"][:, -width:], mask)
    ent = -jnp.sum(jnp.exp(lsm) * lsm, axis=-1)  # [B, C]
    mean_ent = jnp.sum(jnp.where(mask, ent, 0.0)) / jnp.maximum(jnp.sum(mask), 1)
    return jnp.pad(logp, ((0, 0), (batch["tokens"].shape[1] - width, 0))), mean_ent


@functools.lru_cache(maxsize=8)
def stats_fn(cfg, width: int):
    """Jitted `completion_stats` for this model config and completion width."""
    return jax.jit(functools.partial(completion_stats, cfg=cfg, width=width))


@functools.lru_cache(maxsize=8)
def ref_fn(cfg, width: int):
    """Jitted reference log-probs (only built when beta > 0)."""
    return jax.jit(functools.partial(policy_logprobs, cfg=cfg, completion_width=width))


@dataclasses.dataclass(frozen=True)
class Rollout:
    """batch: the packed arrays the update step takes (tokens, attention_mask,
    completion_mask, old_logp, advantages[, ref_logp]); rewards: the `Rewards` of the R rows;
    texts: the decoded answers; metrics: host floats for the log."""

    batch: dict
    rewards: object
    texts: list
    metrics: dict


def collect(
    policy,
    prompts: list[list[int]],
    user_ids: list[str],
    sampling: SamplingParams,
    reward_model,
    *,
    key: jax.Array,
    prompt_width: int,
    ref_params=None,
) -> Rollout:
    """One rollout batch from `policy` (see the module docstring). prompts: B token lists (no
    padding), user_ids: their B users; rows of the result are prompt-major (G per prompt)."""
    g, width = sampling.num_samples, sampling.max_new_tokens
    clock = {"t": time.perf_counter()}

    def lap(name):
        now = time.perf_counter()
        clock[name] = now - clock["t"]
        clock["t"] = now

    gen = generate(policy.params, policy.cfg, prompts, sampling, key=key, pad_id=policy.pad_id)
    texts = gen.texts(policy.tokenizer)
    lap("rollout")
    users = [u for u in user_ids for _ in range(g)]
    for u in dict.fromkeys(user_ids):
        # one user per call: a user's themes depend on that user's texts alone, never on which
        # other users share the batch (float sums in a batched encoder call are not
        # batch-invariant), and they stay out of the queries' embed call below
        reward_model.prepare([u])
    rewards = reward_model.score(users, texts)
    adv = np.asarray(group_advantages(rewards.total, g))
    lap("reward")
    batch = gen.packed(prompts, policy.pad_id, prompt_width)
    batch["advantages"] = adv
    old_logp, entropy = stats_fn(policy.cfg, width)(policy.params, batch)
    batch["old_logp"] = np.asarray(old_logp)
    if ref_params is not None:
        batch["ref_logp"] = np.asarray(ref_fn(policy.cfg, width)(ref_params, batch))
    lap("logprobs")
    mask = batch["completion_mask"][:, -width:]
    diff = np.abs(batch["old_logp"][:, -width:] - gen.logprobs_raw)[mask]
    metrics = {
        "reward_mean": float(np.mean(rewards.total)),
        "reward_std": float(np.std(rewards.total)),
        "advantage_std": float(np.std(adv)),
        "valid_share": float(np.mean(rewards.valid)),
        "completion_tokens": float(np.mean(gen.lengths)),
        "finished_share": float(np.mean(gen.finished)),
        "entropy": float(entropy),
        "mismatch_mean": float(diff.mean()) if diff.size else 0.0,
        "mismatch_max": float(diff.max()) if diff.size else 0.0,
        "rollout_tokens_per_s": float(np.sum(gen.lengths) / max(clock["rollout"], 1e-9)),
        **{f"seconds_{k}": v for k, v in clock.items() if k != "t"},
    }
    for s in SIGNALS:
        for kind in ("raw", "norm"):
            values = getattr(rewards, kind)[s]
            metrics[f"{s}_{kind}_mean"] = float(np.mean(values))
            metrics[f"{s}_{kind}_std"] = float(np.std(values))
    return Rollout(batch, rewards, texts, metrics)
