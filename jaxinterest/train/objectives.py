"""Objectives for `train.step.make_train_step`: (params, batch, rng, frozen) -> (loss, aux).

Batches use the packed layout of `sampling.pack` / `Generation.packed` ([B, T] arrays, prompt
left-padded, completion right after it):

  tokens [B, T] int, attention_mask [B, T] (1 on real tokens), completion_mask [B, T] (1 on the
  tokens the loss scores), and per objective:
  GRPO: old_logp [B, T] (pi_old, recomputed by `logprob_fn` before the first inner epoch, so
        the first inner step has ratio exactly 1), advantages [B], ref_logp [B, T] if beta > 0.

`rng` is the per-micro-batch key (unused by these objectives); `frozen` is a pytree passed to
every micro-batch whole and never differentiated (a distillation teacher's params, say).
"""

from __future__ import annotations

import functools

import jax

from jaxinterest.models.qwen2 import Qwen2Config, token_logprobs
from jaxinterest.train.losses import dr_grpo_loss, sft_loss


def policy_logprobs(params, batch, cfg: Qwen2Config) -> jax.Array:
    """[B, T] float32 log pi(token t | tokens < t) on completion tokens, 0 elsewhere: one
    forward over [prompt + completion]. The trainer's log-probs (current policy, pi_old, pi_ref)
    all come from here."""
    return token_logprobs(
        params, batch["tokens"], batch["attention_mask"], batch["completion_mask"], cfg
    )


def logprob_fn(cfg: Qwen2Config):
    """Jitted `policy_logprobs(params, batch)` for pi_old / pi_ref outside the update step."""
    return jax.jit(functools.partial(policy_logprobs, cfg=cfg))


def grpo_objective(
    cfg: Qwen2Config, *, clip_eps: float, beta: float, max_len: int, ratio: str = "token"
):
    """Dr.GRPO (`losses.dr_grpo_loss`) on the policy's recomputed log-probs."""

    def objective(params, batch, rng, frozen):
        del rng, frozen
        logp = policy_logprobs(params, batch, cfg)
        return dr_grpo_loss(
            logp,
            batch["old_logp"],
            batch.get("ref_logp") if beta > 0 else None,
            batch["completion_mask"],
            batch["advantages"],
            clip_eps=clip_eps,
            beta=beta,
            max_len=max_len,
            ratio=ratio,
        )

    return objective


def sft_objective(cfg: Qwen2Config):
    """Masked next-token cross-entropy on the completion tokens (`losses.sft_loss`)."""

    def objective(params, batch, rng, frozen):
        del rng, frozen
        return sft_loss(policy_logprobs(params, batch, cfg), batch["completion_mask"])

    return objective
