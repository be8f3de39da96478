"""Full-vocabulary quantities of the completion positions, computed in chunks over the sequence.

On-policy distillation needs, at every generated position, the student's and the teacher's
whole next-token distributions. At a real vocabulary (151,936 for Qwen2.5) the [B, T, V]
logits of two models do not fit beside each other, so the models run their decoders once
(hidden states [B, T, D], small) and the LM heads run per chunk of C positions under
`lax.scan`: at most [B, C, V] logits per model exist at a time. The chunk body is wrapped in
`jax.checkpoint`, so the backward pass recomputes a chunk's logits instead of keeping every
chunk's softmax alive.

Layout: the packed [B, T] batches of `sampling.pack` (prompt left-padded, completion after it).
Only the last `width` columns are scored (the completion region when the batch was packed with
completion width `width`; None scores every column 1 .. T-1). Entry t is about token t, whose
distribution comes from the hidden state at t - 1. Outputs are [B, T] with zeros outside the
scored window and where the mask is 0, the layout of `train.policy_logprobs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.qwen2 import Qwen2Config, hidden_states, logits_from_hidden
from jaxinterest.train.losses import reverse_kl


def scored_width(batch, width: int | None) -> int:
    """The number of trailing columns scored (see the module docstring)."""
    t = batch["tokens"].shape[1]
    w = t - 1 if width is None else int(width)
    if not 1 <= w <= t - 1:
        raise ValueError(f"width {width} must be in [1, {t - 1}] for batches of {t} columns")
    return w


def window_hidden(params, batch, cfg: Qwen2Config, width: int) -> jax.Array:
    """[B, W, D] hidden states that predict the last W tokens (positions T-W-1 .. T-2)."""
    h = hidden_states(params, batch["tokens"], cfg, attention_mask=batch["attention_mask"])
    t = h.shape[1]
    return h[:, t - width - 1 : t - 1]


def _chunks(x: jax.Array, chunk: int) -> jax.Array:
    """[B, W, ...] -> [n, B, C, ...] with W zero-padded up to n * C."""
    b, w = x.shape[:2]
    n = -(-w // chunk)
    x = jnp.pad(x, [(0, 0), (0, n * chunk - w)] + [(0, 0)] * (x.ndim - 2))
    return jnp.swapaxes(x.reshape(b, n, chunk, *x.shape[2:]), 0, 1)


def _unchunk(x: jax.Array, width: int, total: int) -> jax.Array:
    """[n, B, C] -> [B, total]: the first `width` entries right-aligned, zeros before them."""
    n, b, c = x.shape
    x = jnp.swapaxes(x, 0, 1).reshape(b, n * c)[:, :width]
    return jnp.pad(x, [(0, 0), (total - width, 0)])


def _window_mask(batch, width: int) -> jax.Array:
    return jnp.asarray(batch["completion_mask"])[:, -width:].astype(bool)


def scored_mask(batch, width: int | None) -> jax.Array:
    """[B, T] bool: the completion mask inside the scored window (what the losses average
    over), False left of it."""
    w = scored_width(batch, width)
    mask = jnp.asarray(batch["completion_mask"]).astype(bool)
    return mask.at[:, : mask.shape[1] - w].set(False)


def chunked_reverse_kl(
    student_params,
    teacher_params,
    batch,
    student_cfg: Qwen2Config,
    teacher_cfg: Qwen2Config,
    *,
    width: int | None = None,
    chunk: int = 16,
) -> jax.Array:
    """[B, T] float32 exact KL(pi_student || pi_teacher) over the full vocabulary at each scored
    completion token's position (`losses.reverse_kl` per chunk), 0 elsewhere.

    Differentiable in `student_params`; the teacher is under `stop_gradient` (it never receives
    gradients) and may have another size, dtype (bf16) or sharding, only the vocabulary must
    match. Memory: [B, T, D] hidden states per model plus [B, chunk, V] logits per model.
    """
    if student_cfg.vocab_size != teacher_cfg.vocab_size:
        raise ValueError(
            f"student vocabulary {student_cfg.vocab_size} != teacher's {teacher_cfg.vocab_size}: "
            "distillation needs a shared tokenizer"
        )
    w = scored_width(batch, width)
    teacher_params = jax.lax.stop_gradient(teacher_params)
    hs = window_hidden(student_params, batch, student_cfg, w)  # [B, W, Ds]
    ht = window_hidden(teacher_params, batch, teacher_cfg, w)  # [B, W, Dt]
    mask = _window_mask(batch, w)

    @jax.checkpoint  # backward recomputes this chunk's [B, C, V] logits
    def body(carry, xs):
        hs_c, ht_c, m_c = xs
        ls = logits_from_hidden(student_params, hs_c, student_cfg)  # [B, C, V] float32
        lt = logits_from_hidden(teacher_params, ht_c, teacher_cfg)
        return carry, reverse_kl(ls, lt, m_c)

    _, kl = jax.lax.scan(body, None, (_chunks(hs, chunk), _chunks(ht, chunk), _chunks(mask, chunk)))
    return _unchunk(kl, w, batch["tokens"].shape[1])


def chunked_token_logprobs(
    params, batch, cfg: Qwen2Config, *, width: int | None = None, chunk: int = 16
) -> jax.Array:
    """[B, T] float32 log pi(token t | tokens < t) on the scored completion tokens, 0 elsewhere:
    `train.policy_logprobs` without the [B, T, V] log-softmax (differentiable; checkpointed per
    chunk like `chunked_reverse_kl`)."""
    w = scored_width(batch, width)
    h = window_hidden(params, batch, cfg, w)
    mask = _window_mask(batch, w)
    targets = jnp.asarray(batch["tokens"])[:, -w:].astype(jnp.int32)

    @jax.checkpoint
    def body(carry, xs):
        h_c, tok_c, m_c = xs
        logp = jax.nn.log_softmax(logits_from_hidden(params, h_c, cfg), axis=-1)  # [B, C, V]
        picked = jnp.take_along_axis(logp, tok_c[..., None], axis=-1)[..., 0]
        return carry, jnp.where(m_c, picked, 0.0)

    xs = (_chunks(h, chunk), _chunks(targets, chunk), _chunks(mask, chunk))
    _, logp = jax.lax.scan(body, None, xs)
    return _unchunk(logp, w, batch["tokens"].shape[1])
