"""Objectives for `train.step.make_train_step`: (params, batch, rng, frozen) -> (loss, aux).

Batches use the packed layout of `sampling.pack` / `Generation.packed` ([B, T] arrays, prompt
left-padded, completion right after it):

  tokens [B, T] int, attention_mask [B, T] (1 on real tokens), completion_mask [B, T] (1 on the
  tokens the loss scores), and per objective:
  GRPO: old_logp [B, T] (pi_old from the trainer's forward), advantages [B], ref_logp [B, T]
        if beta > 0. `train.grpo.make_update` wraps this objective: on the first inner epoch
        it replaces old_logp by the stop-gradient of the update's own log-probs, so that step's
        ratio is exactly 1 (a separately jitted forward differs by ~1e-7), and it returns those
        log-probs as pi_old for the later epochs: no separate pi_old forward runs.

`rng` is the per-micro-batch key (unused by these objectives); `frozen` is a pytree passed to
every micro-batch whole and never differentiated (a distillation teacher's params, say).

`completion_width=C` (optional everywhere): only the last C columns can hold scored tokens (the
packed layout puts the completion there), so the LM head and softmax run on those C positions
instead of all T. The result is the same; on small-vocabulary models with long prompts the head
is most of the step's cost (a tiny-1m GRPO step with 200-token prompts and 48 new tokens spends
about two thirds of its FLOPs in the head over the prompt, which no loss reads).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2 import (
    Qwen2Config,
    hidden_states,
    logits_from_hidden,
    token_logprobs,
)
from jaxinterest.models.qwen2.layers import wide
from jaxinterest.models.qwen2.logprobs import head_logprobs_entropy
from jaxinterest.models.qwen2.model import shared_prompt_hidden
from jaxinterest.train.losses import dr_grpo_loss, sft_loss


def completion_hidden(
    params, batch, cfg: Qwen2Config, completion_width: int, prompt_group: int = 1
) -> jax.Array:
    """[B, C, D] final hidden states at the positions that predict the last C tokens: entry c
    predicts token T - C + c from tokens[:, :T - C + c]. The body runs over all T columns.

    prompt_group = g > 1: rows come in consecutive groups of g whose first T - C columns
    (tokens and attention_mask) are equal, as G samples of one prompt are; the body then runs
    each group's prompt once (`shared_prompt_hidden`), same result up to float rounding. The
    caller guarantees the equality (`train.grpo.shares_prompts` checks it)."""
    tokens, mask = batch["tokens"], batch["attention_mask"]
    t, c = tokens.shape[1], completion_width
    if not 1 <= c < t:
        raise ValueError(f"completion_width={c} must be in [1, {t - 1}] for {t} columns")
    if prompt_group > 1:
        g, p = prompt_group, t - c
        prompt_h, own_h = shared_prompt_hidden(
            params, tokens[::g, :p], mask[::g, :p], tokens[:, p:], mask[:, p:], cfg, group=g
        )
        last = jnp.repeat(prompt_h[:, -1:], g, axis=0)  # [B, 1, D]: predicts token P
        return jnp.concatenate([last, own_h[:, :-1]], axis=1)  # positions P - 1 .. T - 2
    return hidden_states(params, tokens, cfg, attention_mask=mask)[:, t - c - 1 : t - 1]


def completion_log_softmax(
    params, batch, cfg: Qwen2Config, completion_width: int, prompt_group: int = 1
) -> jax.Array:
    """[B, C] x V float32 (float64 for float64 params): entry c is log p(. | tokens[:, :T - C
    + c]), the distribution of token T - C + c. The body runs over all T columns, the head only
    over the C positions. prompt_group: see `completion_hidden`."""
    hidden = completion_hidden(params, batch, cfg, completion_width, prompt_group)
    logits = logits_from_hidden(params, hidden, cfg)  # [B, C, V]
    return jax.nn.log_softmax(logits.astype(wide(logits.dtype)), axis=-1)


def policy_logprobs(params, batch, cfg: Qwen2Config, completion_width: int | None = None):
    """[B, T] float32 log pi(token t | tokens < t) on completion tokens, 0 elsewhere: one
    forward over [prompt + completion]. The trainer's log-probs (current policy, pi_old, pi_ref)
    all come from here. With completion_width C, completion tokens must lie in the last C
    columns (see the module docstring), and the head runs on those C positions through
    `head_logprobs_entropy`, as in the GRPO update's objective."""
    if completion_width is None:
        return token_logprobs(
            params, batch["tokens"], batch["attention_mask"], batch["completion_mask"], cfg
        )
    return completion_logprobs_entropy(params, batch, cfg, completion_width)[0]


def completion_logprobs_entropy(
    params, batch, cfg: Qwen2Config, completion_width: int, prompt_group: int = 1
):
    """(log-probs [B, T] float32 as `policy_logprobs(..., completion_width)`, entropy [B, C]
    float32 of the policy's next-token distribution at each of the last C positions, exact over
    V). One forward gives both: the GRPO update reads its entropy metric here instead of running
    a second forward. The head is `models.qwen2.logprobs.head_logprobs_entropy` (chunked, no
    [B, C, V] log-softmax materialised, same values up to float rounding). The entropy is under
    stop_gradient (a metric, never a loss term), so the gradient through the log-probs is that
    of `policy_logprobs`. prompt_group: see `completion_hidden`."""
    c = completion_width
    hidden = completion_hidden(params, batch, cfg, c, prompt_group)  # [B, C, D]
    tokens = batch["tokens"][:, -c:]
    logp, entropy = head_logprobs_entropy(params, hidden, tokens, cfg)
    logp = jnp.where(batch["completion_mask"][:, -c:].astype(bool), logp, 0.0)
    entropy = jax.lax.stop_gradient(entropy)
    return jnp.pad(logp, ((0, 0), (batch["tokens"].shape[1] - c, 0))), entropy


def logprob_fn(cfg: Qwen2Config, completion_width: int | None = None):
    """Jitted `policy_logprobs(params, batch)` for pi_old / pi_ref outside the update step."""
    return jax.jit(functools.partial(policy_logprobs, cfg=cfg, completion_width=completion_width))


def grpo_objective(
    cfg: Qwen2Config,
    *,
    clip_eps: float,
    beta: float,
    max_len: int,
    ratio: str = "token",
    completion_width: int | None = None,
):
    """Dr.GRPO (`losses.dr_grpo_loss`) on the policy's recomputed log-probs."""

    def objective(params, batch, rng, frozen):
        del rng, frozen
        logp = policy_logprobs(params, batch, cfg, completion_width)
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


def sft_objective(cfg: Qwen2Config, completion_width: int | None = None):
    """Masked next-token cross-entropy on the completion tokens (`losses.sft_loss`)."""

    def objective(params, batch, rng, frozen):
        del rng, frozen
        logp = policy_logprobs(params, batch, cfg, completion_width)
        return sft_loss(logp, batch["completion_mask"])

    return objective
