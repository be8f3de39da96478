"""On-policy distillation (paper eq. 10): the student samples, the teacher scores the student's
own prefixes, the student minimises the per-token reverse KL(pi_student || pi_teacher).

Two estimators of the same objective, one option (`estimator`):

  exact    at every generated position the full-vocabulary KL,
           sum_v p_s(v) (log p_s(v) - log p_t(v)), differentiated through the student's logits
           (`kl_chunks.chunked_reverse_kl`: the LM heads run per chunk of positions, so the
           [B, T, V] logits of both models never exist at once). Needs the teacher's params:
           they travel as the update step's `frozen` argument (never differentiated).
  sampled  only the sampled token's log-probs: per-token advantage
           A_t = -(log pi_s_old(y_t) - log pi_t(y_t)) (discount 0: no credit from later
           tokens), in the importance-sampled policy-gradient loss -rho_t A_t with
           rho_t = pi_s(y_t) / pi_s_old(y_t). The teacher contributes one number per token, so
           it can be a remote log-prob server (`train.teacher.RemoteTeacher`).

Why both estimate the same thing: for one position with student p and teacher q,
grad KL(p || q) = E_{y~p}[grad log p(y) (log p(y) - log q(y))] (the score-function identity;
the extra E[grad log p] term is 0), and at rho = 1 the sampled loss's gradient is exactly the
bracket for the drawn y; the value E[-A_t] is the KL itself. tests/test_distill_estimators.py
checks both on a toy model within a Monte-Carlo bound.

Normalisation: both losses average over the batch's completion tokens (eq. 10 is an expectation
over prefixes), with aux["weight"] = the token count so that micro-batch accumulation weighs
every token equally (see `train.step`). aux["teacher_kl"] is the per-token reverse KL of the
batch: exact for `exact`, the sampled-token estimate for `sampled`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2 import Qwen2Config
from jaxinterest.train.kl_chunks import chunked_reverse_kl, chunked_token_logprobs, scored_mask

ESTIMATORS = ("exact", "sampled")


def _f32(x):
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def token_mean(values: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean of values [B, T] over mask, the mask's count as float32). Masked-out entries may
    hold anything (they are selected away before the sum)."""
    mask = jnp.asarray(mask).astype(bool)
    n = jnp.sum(mask).astype(jnp.float32)
    return jnp.sum(jnp.where(mask, _f32(values), 0.0)) / jnp.maximum(n, 1.0), n


def exact_distill_loss(kl: jax.Array, mask: jax.Array) -> tuple[jax.Array, dict]:
    """Token mean of the exact per-token reverse KL [B, T] (from `chunked_reverse_kl`)."""
    loss, n = token_mean(kl, mask)
    return loss, {"teacher_kl": loss, "weight": n}


def sampled_distill_loss(
    logp: jax.Array,
    old_logp: jax.Array,
    teacher_logp: jax.Array,
    mask: jax.Array,
    *,
    coef: float = 1.0,
) -> tuple[jax.Array, dict]:
    """Importance-sampled policy gradient with the per-token advantage
    A_t = -coef * (old_logp_t - teacher_logp_t) (discount 0), token-mean of -rho_t A_t.

    logp: [B, T] student log-probs of the sampled tokens (differentiated); old_logp: [B, T]
    the student that sampled them (pi_old; constant); teacher_logp: [B, T] (constant);
    mask: [B, T]. aux: teacher_kl (token mean of old_logp - teacher_logp, the sampled estimate
    of the per-token reverse KL), ratio_mean / ratio_min / ratio_max, weight (token count).
    """
    mask = jnp.asarray(mask).astype(bool)
    old = jax.lax.stop_gradient(_f32(old_logp))
    teacher = jax.lax.stop_gradient(_f32(teacher_logp))
    # select before exp/subtract: garbage at masked positions must not reach the gradient
    log_ratio = jnp.where(mask, _f32(logp) - old, 0.0)
    log_gap = jnp.where(mask, old - teacher, 0.0)  # log pi_s_old - log pi_t
    rho = jnp.exp(log_ratio)
    loss, n = token_mean(rho * (coef * log_gap), mask)  # -rho * A, A = -coef * log_gap
    kl, _ = token_mean(log_gap, mask)
    aux = {
        "teacher_kl": kl,
        "ratio_mean": token_mean(rho, mask)[0],
        "ratio_min": jnp.min(jnp.where(mask, rho, jnp.inf)),
        "ratio_max": jnp.max(jnp.where(mask, rho, -jnp.inf)),
        "weight": n,
    }
    return loss, aux


def student_logprob_fn(cfg: Qwen2Config, *, width: int | None = None, chunk: int = 16):
    """Jitted [B, T] student log-probs of the batch's completion tokens (pi_old for the sampled
    estimator): the same function the sampled objective differentiates."""
    return jax.jit(functools.partial(chunked_token_logprobs, cfg=cfg, width=width, chunk=chunk))


def distill_objective(
    student_cfg: Qwen2Config,
    teacher_cfg: Qwen2Config | None = None,
    *,
    estimator: str = "exact",
    width: int | None = None,
    chunk: int = 16,
    coef: float = 1.0,
):
    """An objective for `train.make_train_step`: (params, batch, rng, frozen) -> (loss, aux).

    exact: `frozen` is the teacher's params (teacher_cfg required); batch: tokens,
      attention_mask, completion_mask.
    sampled: batch also carries old_logp and teacher_logp [B, T] (from `student_logprob_fn`
      and a teacher); `frozen` is unused.
    width: the completion width the batch was packed with (only those trailing columns are
    scored; None = every column); chunk: positions per LM-head chunk.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if estimator == "exact":
        if teacher_cfg is None:
            raise ValueError("the exact estimator needs the teacher's config (a local teacher)")

        def exact(params, batch, rng, frozen):
            del rng
            kl = chunked_reverse_kl(
                params, frozen, batch, student_cfg, teacher_cfg, width=width, chunk=chunk
            )
            return exact_distill_loss(kl, scored_mask(batch, width))

        return exact

    def sampled(params, batch, rng, frozen):
        del rng, frozen
        logp = chunked_token_logprobs(params, batch, student_cfg, width=width, chunk=chunk)
        mask = scored_mask(batch, width)
        return sampled_distill_loss(logp, batch["old_logp"], batch["teacher_logp"], mask, coef=coef)

    return sampled
