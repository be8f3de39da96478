"""Training losses as small pure functions: (arrays) -> (scalar loss, aux dict of scalars).

Shapes: B sequences, T token positions, V vocabulary. Per-token arrays are [B, T] in the
packed layout of `sampling.pack` (prompt left-padded, completion after it), entry t being
about token t; `mask` [B, T] is 1 on the completion (target) tokens and 0 elsewhere, and every
loss ignores the values at masked-out positions (they may be garbage, even inf or NaN).
All arithmetic is at least float32 whatever the inputs' dtype (bf16 log-probs would lose the
ratio's precision).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

RATIOS = ("token", "sequence")


def _f32(x):
    """At least float32 (float64 stays float64, so tests can check gradients in float64)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def group_advantages(rewards: jax.Array, group_size: int) -> jax.Array:
    """Dr.GRPO advantages (paper eq. 8): reward minus the mean of its group, no std division.

    rewards: [B] with B = prompts x group_size, the G samples of one prompt contiguous
    (rows g*G .. g*G + G - 1 share a prompt, as `generate(num_samples=G)` lays them out).
    Returns [B] float32.
    """
    rewards = _f32(rewards)
    if rewards.ndim != 1 or group_size < 1 or rewards.shape[0] % group_size:
        raise ValueError(
            f"rewards of shape {rewards.shape} do not split into groups of {group_size}"
        )
    groups = rewards.reshape(-1, group_size)
    return (groups - groups.mean(axis=1, keepdims=True)).reshape(-1)


def k3_kl(logp: jax.Array, ref_logp: jax.Array) -> jax.Array:
    """Per-token k3 estimator of KL(pi || pi_ref) at tokens sampled from pi:
    exp(ref - logp) - (ref - logp) - 1 (>= 0, unbiased; Schulman's k3)."""
    d = _f32(ref_logp) - _f32(logp)
    return jnp.exp(d) - d - 1.0


def _masked_mean(x, mask):
    return jnp.sum(jnp.where(mask, x, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def dr_grpo_loss(
    logp: jax.Array,
    old_logp: jax.Array,
    ref_logp: jax.Array | None,
    mask: jax.Array,
    advantages: jax.Array,
    *,
    clip_eps: float,
    beta: float,
    max_len: int,
    ratio: str = "token",
) -> tuple[jax.Array, dict]:
    """Dr.GRPO loss (paper eq. 5-7 with Dr.GRPO's constant normaliser), to be minimised.

    logp: [B, T] log pi_theta of the sampled tokens (differentiated); old_logp: [B, T] pi_old
    (the trainer's recomputation; constant); ref_logp: [B, T] frozen reference or None (only
    read when beta > 0: beta = 0 skips the reference forward entirely); mask: [B, T];
    advantages: [B] (see `group_advantages`).

    ratio="token": rho_t = pi/pi_old per token; per-token surrogate
      min(rho_t A, clip(rho_t, 1-eps, 1+eps) A), summed over each sequence's tokens and divided
      by the constant max_len (not by the sequence's own length, which would make short lists
      weigh more per token), then averaged over sequences.
    ratio="sequence": rho = pi(list)/pi_old(list) = exp(sum_t mask (logp - old_logp)) (eq. 7);
      the same min/clip once per sequence, divided by the same max_len so that at rho = 1 (the
      first inner step) both variants have the same gradient, -A sum_t grad logp_t / max_len.
    KL: beta * k3 per token, summed per sequence / max_len, averaged over sequences.

    aux: clip_frac (share of tokens, or sequences for ratio="sequence", whose clipped term is
    active), kl (mean k3 per completion token; 0 when beta = 0), ratio_mean / ratio_min /
    ratio_max (over tokens or sequences), policy_loss, kl_loss.
    """
    if ratio not in RATIOS:
        raise ValueError(f"ratio must be one of {RATIOS}, got {ratio!r}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    mask = jnp.asarray(mask).astype(bool)
    adv = _f32(advantages)
    # Garbage at masked-out positions must not reach exp() (inf * 0 = NaN in the gradient).
    log_ratio = jnp.where(mask, _f32(logp) - jax.lax.stop_gradient(_f32(old_logp)), 0.0)
    lo, hi = 1.0 - clip_eps, 1.0 + clip_eps

    if ratio == "token":
        rho = jnp.exp(log_ratio)  # [B, T]
        a = adv[:, None]
        surrogate = jnp.minimum(rho * a, jnp.clip(rho, lo, hi) * a)
        policy = -jnp.sum(jnp.where(mask, surrogate, 0.0), axis=1) / max_len  # [B]
        clipped = ((rho > hi) & (a > 0)) | ((rho < lo) & (a < 0))
        clip_frac = _masked_mean(clipped, mask)
        sel = jnp.broadcast_to(mask, rho.shape)
    else:
        rho = jnp.exp(jnp.sum(log_ratio, axis=1))  # [B]
        surrogate = jnp.minimum(rho * adv, jnp.clip(rho, lo, hi) * adv)
        policy = -surrogate / max_len
        clipped = ((rho > hi) & (adv > 0)) | ((rho < lo) & (adv < 0))
        clip_frac = jnp.mean(clipped.astype(jnp.float32))
        sel = jnp.ones(rho.shape, bool)

    aux = {
        "clip_frac": clip_frac,
        "ratio_mean": _masked_mean(rho, sel),
        "ratio_min": jnp.min(jnp.where(sel, rho, jnp.inf)),
        "ratio_max": jnp.max(jnp.where(sel, rho, -jnp.inf)),
        "policy_loss": jnp.mean(policy),
    }
    if beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs ref_logp (the frozen reference's log-probs)")
        ref = jax.lax.stop_gradient(_f32(ref_logp))
        kl = k3_kl(jnp.where(mask, _f32(logp), 0.0), jnp.where(mask, ref, 0.0))  # 0 off mask
        kl_loss = beta * jnp.mean(jnp.sum(kl, axis=1) / max_len)
        aux["kl"] = _masked_mean(kl, mask)
    else:
        kl_loss = jnp.zeros((), jnp.float32)
        aux["kl"] = jnp.zeros((), jnp.float32)
    aux["kl_loss"] = kl_loss
    return jnp.mean(policy) + kl_loss, aux


def sft_loss(logp: jax.Array, mask: jax.Array) -> tuple[jax.Array, dict]:
    """Masked token cross-entropy: -mean of logp over target tokens.

    logp: [B, T] log-prob of each target token (e.g. `policy_logprobs`); mask: [B, T].
    aux: weight = the target-token count, so that gradient accumulation over micro-batches
    weighs every target token equally, as one big batch would (see `train.step`).
    """
    mask = jnp.asarray(mask).astype(bool)
    n = jnp.sum(mask).astype(jnp.float32)
    loss = -jnp.sum(jnp.where(mask, _f32(logp), 0.0)) / jnp.maximum(n, 1.0)
    return loss, {"weight": n}


def reverse_kl(student_logits: jax.Array, teacher_logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Exact per-position reverse KL(pi_student || pi_teacher) over the full vocabulary.

    student_logits, teacher_logits: [B, T, V] (any float dtype; softmax in float32);
    mask: [B, T]. Returns [B, T] float32, sum_v p_s (log p_s - log p_t), 0 where mask is 0.
    The on-policy distillation loss (paper eq. 10) is its masked sum / mean.
    """
    ls = jax.nn.log_softmax(_f32(student_logits), axis=-1)
    lt = jax.nn.log_softmax(_f32(teacher_logits), axis=-1)
    kl = jnp.sum(jnp.exp(ls) * (ls - lt), axis=-1)
    return jnp.where(jnp.asarray(mask).astype(bool), kl, 0.0)
