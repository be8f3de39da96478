"""One GRPO rollout: prompts -> G samples each -> host rewards -> advantages -> a packed batch.

    sample (sampler, SamplingParams with num_samples=G) -> decode to text
      -> rewards (host: RewardModel.score on (user, text) pairs) -> Dr.GRPO advantages
      -> pack prompt + completion ([R, P + N], R = B * G rows, prompt-major)
      -> the sampler's own log-probs in the same layout, pi_ref if beta > 0

No pi_old forward runs here: pi_old comes from the trainer's forward, never from the sampler,
and the first inner update's forward is that forward (`grpo.update` takes pi_old as the
stop-gradient of its own log-probs, so its ratio is exactly 1 whatever the sampler's kernels
do, and keeps them for later epochs). The sampler's raw log-probs travel in the batch as
`sampler_logp` so that `grpo.update` can compare them with the trainer's on every completion
token: `mismatch_mean` / `mismatch_max` (|d log p|) are the rollout/trainer disagreement that
silently biases GRPO when it grows; the update also reports the policy's entropy.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import numpy as np

from jaxinterest.rewards.config import SIGNALS
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.train.losses import group_advantages
from jaxinterest.train.objectives import policy_logprobs


@functools.lru_cache(maxsize=8)
def ref_fn(cfg, width: int):
    """Jitted reference log-probs (only built when beta > 0)."""
    return jax.jit(functools.partial(policy_logprobs, cfg=cfg, completion_width=width))


@dataclasses.dataclass(frozen=True)
class Rollout:
    """batch: the packed arrays `grpo.update` takes (tokens, attention_mask, completion_mask,
    advantages, sampler_logp[, ref_logp]); rewards: the `Rewards` of the R rows; texts: the
    decoded answers; metrics: host floats for the log (the entropy and sampler-mismatch metrics
    come from `grpo.update`)."""

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
    # the batch's users' themes in one encoder call, kept out of the queries' call below; a
    # text's vector does not depend on the others in a call (`embed` is batch-invariant), so
    # the themes are the same bits as one user per call
    reward_model.prepare(list(dict.fromkeys(user_ids)))
    rewards = reward_model.score(users, texts)
    adv = np.asarray(group_advantages(rewards.total, g))
    lap("reward")
    batch = gen.packed(prompts, policy.pad_id, prompt_width)
    batch["advantages"] = adv
    sampler_logp = np.zeros(batch["tokens"].shape, np.float32)
    sampler_logp[:, -width:] = np.where(batch["completion_mask"][:, -width:], gen.logprobs_raw, 0)
    batch["sampler_logp"] = sampler_logp
    if ref_params is not None:
        batch["ref_logp"] = np.asarray(ref_fn(policy.cfg, width)(ref_params, batch))
    lap("logprobs")  # the reference forward (beta > 0); pi_old needs none (module docstring)
    metrics = {
        "reward_mean": float(np.mean(rewards.total)),
        "reward_std": float(np.std(rewards.total)),
        "advantage_std": float(np.std(adv)),
        "valid_share": float(np.mean(rewards.valid)),
        "completion_tokens": float(np.mean(gen.lengths)),
        "finished_share": float(np.mean(gen.finished)),
        "rollout_tokens_per_s": float(np.sum(gen.lengths) / max(clock["rollout"], 1e-9)),
        **{f"seconds_{k}": v for k, v in clock.items() if k != "t"},
    }
    # what the reward's time goes to (RewardModel.score's info): the batch's distinct queries
    # and the seconds of its encoder call. Not the count of texts embedded: it depends on the
    # caches' history (a resumed run starts them empty), and the metrics of a resumed run
    # equal the uninterrupted run's
    info = getattr(rewards, "info", None) or {}
    if "n_distinct_queries" in info:
        metrics["reward_distinct_queries"] = int(info["n_distinct_queries"])
    if "embed" in info.get("seconds", {}):
        metrics["seconds_reward_embed"] = float(info["seconds"]["embed"])
    for s in SIGNALS:
        for kind in ("raw", "norm"):
            values = getattr(rewards, kind)[s]
            metrics[f"{s}_{kind}_mean"] = float(np.mean(values))
            metrics[f"{s}_{kind}_std"] = float(np.std(values))
    return Rollout(batch, rewards, texts, metrics)
