"""Per-token log-probs of given token sequences: what policy-gradient and distillation losses,
pi_old / pi_ref recomputation and `sampling.score` are built on.

All functions are pure, jittable and differentiable, and take the packed [B, T] layout of
`sampling.pack` / `Generation.packed` (padding on either side). Entry t of every output is
about token t given tokens[:, :t]; entry 0 has no context and is 0. Softmax in float32.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from jaxinterest.models.qwen2.config import Qwen2Config
from jaxinterest.models.qwen2.layers import wide
from jaxinterest.models.qwen2.model import forward


def token_log_softmax(params, tokens, attention_mask, cfg: Qwen2Config) -> jax.Array:
    """[B, T, V] float32: entry t is log p(. | tokens[:, :t]), the distribution token t was
    drawn from. Entry 0 has no context and is all zeros."""
    logits = forward(params, tokens, cfg, attention_mask=attention_mask)  # [B, T, V] f32
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.concatenate([jnp.zeros_like(logp[:, :1]), logp[:, :-1]], axis=1)


def gather_logprobs(log_softmax, tokens, target_mask) -> jax.Array:
    """[B, T] entry t = log_softmax[b, t, tokens[b, t]] where target_mask, else 0.

    log_softmax: [B, T, V] from `token_log_softmax`; tokens, target_mask: [B, T].
    """
    picked = jnp.take_along_axis(log_softmax, tokens[..., None].astype(jnp.int32), axis=-1)
    return jnp.where(target_mask.astype(bool), picked[..., 0], 0.0)


def token_logprobs(params, tokens, attention_mask, target_mask, cfg: Qwen2Config) -> jax.Array:
    """[B, T] float32 log p(tokens[:, t] | tokens[:, :t]) where target_mask, else 0.

    tokens, attention_mask, target_mask: [B, T] (the masks bool or 0/1).
    """
    return gather_logprobs(
        token_log_softmax(params, tokens, attention_mask, cfg), tokens, target_mask
    )


# Rows of the LM head per chunk in `head_logprobs_entropy`: a [256, V] float32 block (8 MiB at
# V = 8,192) stays in cache between the matmul that writes it and the passes that read it.
HEAD_CHUNK = 256


def head_logprobs_entropy(
    params, hidden: jax.Array, tokens: jax.Array, cfg: Qwen2Config, chunk: int = HEAD_CHUNK
) -> tuple[jax.Array, jax.Array]:
    """(log p(tokens) [..., C], entropy [..., C]) of the next-token distributions at final
    hidden states hidden [..., C, D] (`hidden_states` output at the positions that predict
    tokens [..., C]), float32 (float64 for float64 hidden), differentiable.

    The same values as `gather_logprobs` of the log-softmax of `logits_from_hidden` and
    -sum(p log p), up to float rounding, without materialising the [N, V] log-softmax: per
    chunk of `chunk` positions, one matmul gives the logits, one pass their max, one pass exp
    with the two sums lse and entropy need, and the sampled token's logit is gathered, not
    selected from a full log-softmax. The backward (`_head_chunk`) forms the logits' gradient
    in one pass from the saved exponentials, instead of autodiff's zero-filled one-hot scatter
    plus separate softmax passes; in a GRPO update at tiny-5m that elementwise work around
    the head cost about as much as its three matmuls (docs/speed.md).
    """
    lead, d = hidden.shape[:-1], hidden.shape[-1]
    h = hidden.reshape(-1, d)
    t = tokens.reshape(-1).astype(jnp.int32)
    n = h.shape[0]
    chunks = max(-(-n // chunk), 1)
    pad = chunks * chunk - n
    if pad:  # zero rows (token 0) fill the last chunk; their outputs are dropped below
        h, t = jnp.pad(h, ((0, pad), (0, 0))), jnp.pad(t, (0, pad))
    if cfg.tie_embeddings:
        weight, tied = params["embed"]["embedding"], True  # [V, D]
    else:
        weight, tied = params["lm_head"]["kernel"], False  # [D, V]

    def body(_, xs):
        return None, _head_chunk(tied, xs[0], weight, xs[1])

    xs = (h.reshape(chunks, -1, d), t.reshape(chunks, -1))
    _, (logp, entropy) = jax.lax.scan(body, None, xs)
    return logp.reshape(-1)[:n].reshape(lead), entropy.reshape(-1)[:n].reshape(lead)


def _head_logits(tied: bool, h, weight):
    """[n, D] x the head's weight ([V, D] tied, [D, V] untied) -> [n, V] in the wide dtype."""
    contract = (((1,), (1,)), ((), ())) if tied else (((1,), (0,)), ((), ()))
    return jax.lax.dot_general(h, weight, contract, preferred_element_type=wide(h.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _head_chunk(tied: bool, h, weight, tokens):
    """(log p(tokens) [n], entropy [n]) for one chunk: h [n, D], tokens [n] int32."""
    return _head_chunk_fwd(tied, h, weight, tokens)[0]


def _head_chunk_fwd(tied, h, weight, tokens):
    strip = lambda x: getattr(x, "value", x)  # noqa: E731  (CustomVJPPrimal under symbolic zeros)
    h, weight, tokens = strip(h), strip(weight), strip(tokens)
    z = _head_logits(tied, h, weight)  # [n, V]
    m = jnp.max(z, axis=-1, keepdims=True)
    e = jnp.exp(z - m)  # softmax numerators, saved for the backward
    s = jnp.sum(e, axis=-1, keepdims=True)
    lse = m + jnp.log(s)  # [n, 1]
    # entropy = lse - E_p[z] = lse - sum(e * z) / s
    entropy = (lse - jnp.sum(e * z, axis=-1, keepdims=True) / s)[:, 0]
    logp = (jnp.take_along_axis(z, tokens[:, None], axis=-1) - lse)[:, 0]
    return (logp, entropy), (h, weight, tokens, e, 1.0 / s, entropy)


def _head_chunk_bwd(tied, res, cotangents):
    h, weight, tokens, e, inv_s, entropy = res
    g_logp, g_entropy = cotangents
    p = e * inv_s  # [n, V] softmax
    dz = jnp.zeros_like(p)
    if not isinstance(g_logp, SymbolicZero):
        # d log p_t / dz = onehot(t) - p
        onehot = jnp.arange(p.shape[1])[None, :] == tokens[:, None]
        dz = jnp.where(onehot, g_logp[:, None], 0.0) - g_logp[:, None] * p
    if not isinstance(g_entropy, SymbolicZero):
        # d H / dz_j = -p_j (log p_j + H); p log p -> 0 where p underflows to 0
        plogp = jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)
        dz = dz - g_entropy[:, None] * (plogp + p * entropy[:, None])
    dz = dz.astype(weight.dtype)
    if tied:  # z = h W^T
        dh = jnp.matmul(dz, weight, preferred_element_type=wide(h.dtype))
        dw = jax.lax.dot_general(dz, h, (((0,), (0,)), ((), ())))  # [V, D]
    else:  # z = h W
        dh = jax.lax.dot_general(dz, weight, (((1,), (1,)), ((), ())))
        dw = jax.lax.dot_general(h, dz, (((0,), (0,)), ((), ())))  # [D, V]
    return dh.astype(h.dtype), dw.astype(weight.dtype), None


_head_chunk.defvjp(_head_chunk_fwd, _head_chunk_bwd, symbolic_zeros=True)
