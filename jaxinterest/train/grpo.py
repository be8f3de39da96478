"""The Dr.GRPO recipe: its config, the jitted update step, and the inner epochs over a rollout.

One iteration = one rollout batch (`rollout.collect`: B users x G samples, host rewards,
advantages, the sampler's own log-probs) followed by `inner_epochs` updates on it, each one
call of the jitted, donated `train.step` with the Dr.GRPO objective (`losses.dr_grpo_loss`:
token or sequence ratio, clip, constant normaliser max_new_tokens, k3 KL when beta > 0).

pi_old comes from the trainer's own forward, and only one forward is needed for it: the first
inner update runs at pi_old = the current policy, so it takes pi_old as the stop-gradient of
the log-probs it differentiates (ratio 1 exactly) and returns them, with each completion
position's entropy, as per-row outputs. `update` keeps them as pi_old for the later epochs and
computes the entropy and sampler-mismatch metrics from them (what a separate pi_old forward
used to feed). Later epochs are off-policy by the earlier updates and the clip bounds them.

A rollout's G samples of one prompt share its tokens, and a causal prompt never sees its
continuation, so the update runs each prompt through the model once per group, not once per
sample (`UpdateStep`, `models.qwen2.shared_prompt_hidden`): the same loss and gradients up to
float rounding, for a fraction of the prompt's FLOPs.
`train.loop.run_grpo` runs iterations with logging, validation and checkpoints.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Literal

import jax
import numpy as np

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.rewards.config import RewardConfig
from jaxinterest.sampling import SamplingParams
from jaxinterest.train.optim import OptimConfig, make_optimizer, make_schedule
from jaxinterest.train.step import make_train_step


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    """A GRPO run. Paths: world (directory), policy (`load_policy` spec: an SFT output
    directory, "smollm2" or "preset:NAME"), keep_file (`clean --apply` output or None), out
    (run directory). Per iteration: prompts_per_step users x group_size samples, inner_epochs
    updates (optim.total_steps counts updates: set it to steps * inner_epochs for one cosine
    over the run). Cadence in iterations: eval_every (validation on the held-out last
    validation_days of the training window, greedy answers, `validation.holdout_world`;
    0 = only at the end), checkpoint_every (keep_last latest + the best by validation
    Recall@10); validation_samples = k > 0 scores k answers per user sampled at the rollout
    temperature (fixed keys, so a rerun scores the same answers) and averages the metrics,
    instead of the greedy answer. prompt: left at its default, the policy directory's
    prompt.json (the prompt SFT trained on) is used instead (`loop.resolve_prompt`).
    The reward model's caches change only its speed: a text's vector is the same bits whichever
    call embeds it (embed.py), so a resumed run, whose caches start empty, is still the straight
    run bit for bit (see docs/training.md)."""

    world: str = ""
    policy: str = ""
    out: str = "runs/grpo"
    keep_file: str | None = None
    seed: int = 0
    steps: int = 100
    prompts_per_step: int = 16
    group_size: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 48
    inner_epochs: int = 2
    micro_batches: int = 1
    clip_eps: float = 0.2
    beta: float = 0.0
    ratio: Literal["token", "sequence"] = "token"
    optim: OptimConfig = OptimConfig(lr=1e-5, warmup_steps=0, total_steps=200)
    eval_every: int = 10
    checkpoint_every: int = 10
    keep_last: int = 3
    validation_days: int = 7
    validation_samples: int = 0
    prompt: PromptConfig = PromptConfig()
    rewards: RewardConfig = RewardConfig()

    def __post_init__(self):
        for name in ("steps", "prompts_per_step", "group_size", "inner_epochs", "keep_last"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError("group_size must be >= 2 (a group of one has advantage 0)")
        if self.eval_every < 0 or self.checkpoint_every < 0 or self.validation_samples < 0:
            raise ValueError("eval_every, checkpoint_every and validation_samples must be >= 0")
        if (self.prompts_per_step * self.group_size) % self.micro_batches:
            raise ValueError(
                f"micro_batches={self.micro_batches} does not divide the "
                f"{self.prompts_per_step * self.group_size} rows of a rollout batch"
            )
        if self.rewards.n_queries not in (None, self.prompt.n_queries):
            raise ValueError(
                f"rewards.n_queries={self.rewards.n_queries} but prompt.n_queries="
                f"{self.prompt.n_queries}"
            )

    def sampling(self, stop_ids) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            stop_ids=tuple(stop_ids),
            num_samples=self.group_size,
        )


def grpo_update_objective(
    cfg: GRPOConfig, model_cfg, *, advantage_sign: float = 1.0, prompt_group: int = 1
):
    """The Dr.GRPO objective of the update step (`losses.dr_grpo_loss`).

    batch["fresh"] [R] bool marks rows whose pi_old IS the current policy (the first inner
    epoch on a rollout batch): there pi_old is the stop-gradient of the very log-probs the loss
    differentiates, so the ratio is exactly 1 (a separately jitted recomputation agrees only to
    float rounding, ~1e-7, because XLA fuses a forward and a forward+backward differently) and
    the gradient is unchanged (d exp(l - sg(l)) = dl). Later epochs read batch["old_logp"].
    aux["rows"] (per-row, never differentiated): logp [R, T], the log-probs this forward
    computed (pi_old for later epochs when the rows are fresh), and entropy_sum [R], the sum
    over the row's completion tokens of the next-token entropy. advantage_sign: see
    `make_update`. prompt_group = g > 1: the batch's rows share their prompt in consecutive
    groups of g, and each prompt runs once (`objectives.completion_hidden`)."""
    return _objective(cfg.clip_eps, cfg.beta, cfg.max_new_tokens, cfg.ratio, model_cfg,
                      float(advantage_sign), prompt_group)  # fmt: skip


def _objective(clip_eps, beta, max_len, ratio, model_cfg, advantage_sign, prompt_group=1):
    import jax.numpy as jnp

    from jaxinterest.train.losses import dr_grpo_loss
    from jaxinterest.train.objectives import completion_logprobs_entropy

    def objective(params, batch, rng, frozen):
        del rng, frozen
        logp, entropy = completion_logprobs_entropy(params, batch, model_cfg, max_len, prompt_group)
        fresh = batch["fresh"].astype(bool)[:, None]
        old = jnp.where(fresh, jax.lax.stop_gradient(logp), batch["old_logp"])
        loss, aux = dr_grpo_loss(
            logp,
            old,
            batch.get("ref_logp") if beta > 0 else None,
            batch["completion_mask"],
            advantage_sign * batch["advantages"],
            clip_eps=clip_eps,
            beta=beta,
            max_len=max_len,
            ratio=ratio,
        )
        scored = batch["completion_mask"][:, -max_len:].astype(bool)
        aux["rows"] = {
            "logp": jax.lax.stop_gradient(logp),
            "entropy_sum": jnp.sum(jnp.where(scored, entropy, 0.0), axis=1),
        }
        return loss, aux

    return objective


def shares_prompts(batch: dict, group: int, completion_width: int) -> bool:
    """Whether the batch's rows come in consecutive groups of `group` whose prompt columns (all
    but the last completion_width; tokens and attention_mask) are equal, as a rollout's G
    samples of one prompt are (host check, a few microseconds per row)."""
    tokens = np.asarray(batch["tokens"])
    rows, p = tokens.shape[0], tokens.shape[1] - completion_width
    if group < 2 or rows % group or p < 1:
        return False
    for name in ("tokens", "attention_mask"):
        cols = np.asarray(batch[name])[:, :p].reshape(rows // group, group, p)
        if not np.array_equal(cols, np.broadcast_to(cols[:, :1], cols.shape)):
            return False
    return True


@dataclasses.dataclass(frozen=True)
class UpdateStep:
    """The update step `update` calls: `step(state, batch) -> (state, metrics)`, jitted with
    the state donated. A batch whose rows share their prompt in groups of `group` (checked
    with `shares_prompts`) runs `shared`, where each micro-batch's forward and backward go
    through every prompt once instead of once per sample (`models.qwen2.shared_prompt_hidden`:
    with G = 8 samples of 120-token prompts and 48 new tokens, 2.7x fewer tokens through the
    decoder); any other batch runs `plain`. Both give the same update up to float rounding.
    `shared` is None when the micro-batch split breaks the groups (micro_batches does not
    divide group_size); each is compiled on its first call."""

    plain: Callable
    shared: Callable | None
    group: int
    completion_width: int

    def __call__(self, state, batch):
        if self.shared is not None and shares_prompts(batch, self.group, self.completion_width):
            return self.shared(state, batch)
        return self.plain(state, batch)


@functools.lru_cache(maxsize=8)
def _update_fns(optim, clip_eps, beta, max_len, ratio, micro_batches, group, model_cfg, sign):
    """(optimizer, `UpdateStep`), built once per process for each distinct recipe: runs that
    differ only in paths, lengths or cadence (a resume, the tests) reuse the compiled step."""
    optimizer = make_optimizer(optim)

    def build(prompt_group):
        objective = _objective(clip_eps, beta, max_len, ratio, model_cfg, sign, prompt_group)
        return make_train_step(
            objective, optimizer, micro_batches=micro_batches, schedule=make_schedule(optim)
        )

    # micro-batch i holds rows i, i + M, ... (`train.step`): a group of G rows sharing a
    # prompt becomes G / M consecutive rows of every micro-batch when M divides G
    per_micro = group // micro_batches if group % micro_batches == 0 else 1
    shared = build(per_micro) if per_micro > 1 else None
    return optimizer, UpdateStep(build(1), shared, group, max_len)


def make_update(cfg: GRPOConfig, model_cfg, *, advantage_sign: float = 1.0):
    """(optimizer, `UpdateStep`) for `update`. advantage_sign = -1 flips the advantages inside
    the loss: a deliberately broken objective that the learning test runs to show its margins
    mean something (never use it to train)."""
    return _update_fns(cfg.optim, cfg.clip_eps, cfg.beta, cfg.max_new_tokens, cfg.ratio,
                       cfg.micro_batches, cfg.group_size, model_cfg,
                       float(advantage_sign))  # fmt: skip


def update(state, batch: dict, step, inner_epochs: int):
    """`inner_epochs` updates on one rollout batch. Returns (state, metrics): the mean over
    the epochs of every update metric, *_min / *_max as extremes, nonfinite as a count, and
    first-epoch ratio_mean / clip_frac (ratio 1 and clip 0 by construction) kept apart as
    ratio_first / clip_first.

    batch: the packed rollout (tokens, attention_mask, completion_mask, advantages[, ref_logp],
    and optionally sampler_logp [R, T], the sampler's own log-probs in the same layout). Any
    old_logp it carries is not read: pi_old is the first epoch's own forward (module
    docstring). From that forward come three more metrics: entropy (mean next-token entropy
    over the completion tokens, exact over V) and, when sampler_logp is given, mismatch_mean /
    mismatch_max (|log p_sampler - log p_trainer| over the completion tokens: the
    rollout/trainer disagreement that silently biases GRPO when it grows)."""
    batch = dict(batch)
    sampler_logp = batch.pop("sampler_logp", None)
    # placeholder: fresh rows never read it, later epochs get the first epoch's log-probs
    batch["old_logp"] = np.zeros(np.shape(batch["tokens"]), np.float32)
    rows = len(batch["advantages"])
    per_epoch, first_rows = [], None
    for epoch in range(inner_epochs):
        fresh = np.full(rows, epoch == 0)  # pi_old = the current policy on the first epoch
        state, metrics = step(state, batch | {"fresh": fresh})
        out_rows = metrics.pop("rows")
        if epoch == 0:
            first_rows = out_rows
            batch["old_logp"] = out_rows["logp"]  # stays on device
        per_epoch.append(metrics)
    per_epoch = jax.device_get(per_epoch)
    out = {}
    for k in per_epoch[0]:
        values = np.array([float(m[k]) for m in per_epoch])
        if k.endswith("_min"):
            out[k] = float(values.min())
        elif k.endswith("_max"):
            out[k] = float(values.max())
        elif k == "nonfinite":
            out[k] = int(values.sum())
        elif k == "skipped":
            out[k] = int(values[-1])
        else:
            out[k] = float(values.mean())
    out["ratio_first"] = float(per_epoch[0]["ratio_mean"])
    out["clip_first"] = float(per_epoch[0]["clip_frac"])
    return state, out | policy_metrics(jax.device_get(first_rows), batch, sampler_logp)


def policy_metrics(rows: dict, batch: dict, sampler_logp=None) -> dict:
    """entropy, and mismatch_mean / mismatch_max if sampler_logp is given, from the first
    epoch's per-row outputs (see `update`), as host floats. Token means over the completion
    tokens of the whole batch, whatever the micro-batch split."""
    mask = np.asarray(batch["completion_mask"]).astype(bool)
    n = int(mask.sum())
    out = {"entropy": float(np.sum(rows["entropy_sum"], dtype=np.float64) / max(n, 1))}
    if sampler_logp is not None:
        diff = np.abs(np.asarray(rows["logp"]) - np.asarray(sampler_logp))[mask]
        out["mismatch_mean"] = float(diff.mean()) if diff.size else 0.0
        out["mismatch_max"] = float(diff.max()) if diff.size else 0.0
    return out
