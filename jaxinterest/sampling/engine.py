"""Batched generation: one prefill per prompt, then the whole decode loop inside one jit.

Layout. Prompts are left-padded to a bucketed width P, so every row's next token goes to the
same cache slot: slot P + t holds generated token t. RoPE positions count real tokens only
(row b's token t sits at position len_b + t), and `kv_valid` hides the pad slots. The cache has
S = P + N' slots, N' the bucketed max_new_tokens.

Prefill. Prompts (sorted by length by the caller) are prefilled in small groups, each at its
own bucketed width, then `assemble` shifts each group's cache to end at slot P and stacks
them: padding is paid within a group, not up to the batch's longest prompt. With G samples per
prompt the prefill runs on the B distinct prompts and its cache and last logits are repeated
to B * G rows (prompt-major), so prompt compute is paid once.

Decode. `lax.while_loop` over steps, carrying the cache (donated by the caller, so XLA updates
it in place) and per-row done flags; it stops as soon as every row has emitted an EOS or the
requested number of tokens (a traced bound, so different max_new_tokens share one program).
The step itself (`step.decode_step`) keeps one (keys, values) pair of buffers per layer, laid
out for its backend: the C++ CPU kernels, or pure JAX (see `step`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinterest import kernels
from jaxinterest.models.qwen2 import (
    Qwen2Config,
    default_positions,
    forward_with_cache,
    init_cache,
    logits_from_hidden,
)
from jaxinterest.sampling.filters import SamplingMode, sample_step
from jaxinterest.sampling.step import caches_from_stacked, decode_step, prepare, slot_axes

# XLA:CPU options of the decode program: YNNPACK off, so every XLA dot goes to Eigen, which
# runs the decode-size dots (e.g. the [32, 256] x [256, 8192] head) faster; the kernel
# backend's matmuls are its own and do not care. Figures and the commands that print them:
# docs/speed.md ("XLA:CPU options"). Other backends ignore xla_cpu_* options.
XLA_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
# The prefill keeps XLA's defaults (YNNPACK on): its dots have hundreds of rows, where YNNPACK
# does the same work in less CPU time (tiny-5m, 4 prompts x 256 tokens: 1.34x less, 1 prompt:
# 1.12x; `bench/sampler.py --prefill-options`, figures in docs/serving.md "Prefill").
PREFILL_XLA_OPTIONS: dict = {}


def _constrain(x, sharding):
    return x if sharding is None else jax.lax.with_sharding_constraint(x, sharding)


@functools.partial(
    jax.jit, static_argnames=("cfg", "repeat", "backend"), compiler_options=PREFILL_XLA_OPTIONS
)
def prefill(
    params, tokens: jax.Array, mask: jax.Array, *, cfg: Qwen2Config, repeat: int = 1, backend
):
    """Runs left-padded prompts tokens/mask [B, P] through the model.

    repeat > 1 repeats every prompt that many times first (the unshared reference path).
    Returns (per-layer (keys, values) caches in `backend`'s layout (`step.slot_axes`) with
    B * repeat rows and P slots, logits after the last prompt token [B * repeat, V] float32).
    """
    if repeat > 1:
        tokens, mask = jnp.repeat(tokens, repeat, axis=0), jnp.repeat(mask, repeat, axis=0)
    b, p = tokens.shape
    cache = init_cache(cfg, b, p, jax.tree.leaves(params)[0].dtype)
    hidden, cache = forward_with_cache(
        params,
        tokens,
        cfg,
        cache,
        positions=default_positions(mask),
        write_index=0,
        kv_valid=mask,
        return_hidden=True,
    )
    # Only the last position's logits are needed: skip the [B, P, V] head.
    logits = logits_from_hidden(params, hidden[:, -1:], cfg)[:, 0]  # [B, V]
    return caches_from_stacked(cache, backend), logits


@functools.partial(
    jax.jit, static_argnames=("repeat", "prompt_len", "cache_len", "shardings", "backend")
)
def assemble(
    parts: tuple,
    logits: tuple,
    *,
    repeat: int,
    prompt_len: int,
    cache_len: int,
    backend: str,
    shardings=None,
):
    """Stacks prefill groups into one decode batch.

    parts: per group, per-layer (keys, values) caches with p_i slots (groups of similar prompt
    lengths are prefilled at their own width p_i, so short prompts do not pay for long ones);
    logits: per group [b_i, V]. Each group's slots are shifted right to end at `prompt_len`
    (left padding, which the decode masks) and every row is repeated `repeat` times (G samples
    sharing one prefill). Returns (per-layer caches with cache_len slots, logits [R, V]),
    R = sum b_i * G.
    """
    rows_sh, cache_sh = shardings or (None, None)

    def lay_out(pieces, axis):
        widths = [(0, 0)] * 4
        padded = []
        for x in pieces:
            widths[axis] = (prompt_len - x.shape[axis], cache_len - prompt_len)
            padded.append(jnp.pad(x, widths))
        return _constrain(jnp.repeat(jnp.concatenate(padded, axis=0), repeat, axis=0), cache_sh)

    layers = len(parts[0])
    caches = tuple(
        tuple(lay_out([group[i][j] for group in parts], slot_axes(backend)[j]) for j in (0, 1))
        for i in range(layers)
    )
    stacked = jnp.repeat(jnp.concatenate(logits, axis=0), repeat, axis=0)
    return caches, _constrain(stacked, rows_sh)


def row_uniforms(key, t, rows: int, row_index=None, draws: int = 0) -> jax.Array:
    """[R] uniforms of decode step t, one per row.

    One key (draws == 0): entry r of `uniform(fold_in(key, t), (R,))`. Per-row keys [R]
    with row_index [R]: row r takes entry row_index[r] of `uniform(fold_in(key[r], t),
    (draws,))`, which is what that row gets in a call of its own with that key and `draws`
    rows; so rows with their own keys do not depend on what they are batched with.
    """
    if draws == 0:
        return jax.random.uniform(jax.random.fold_in(key, t), (rows,))

    def one(k, j):
        return jax.random.uniform(jax.random.fold_in(k, t), (draws,))[j]

    return jax.vmap(one)(key, row_index)


@functools.partial(
    jax.jit,
    static_argnames=("cfg", "mode", "shardings", "backend", "draws"),
    donate_argnames=("cache",),
    compiler_options=XLA_OPTIONS,
)
def decode(
    params,
    cache: tuple,
    logits: jax.Array,
    prompt_mask: jax.Array,
    active: jax.Array,
    key: jax.Array,
    max_new: jax.Array,
    temperature: jax.Array,
    top_p: jax.Array,
    eos_ids: jax.Array,
    pad_id: jax.Array,
    row_index: jax.Array | None = None,
    *,
    cfg: Qwen2Config,
    mode: SamplingMode,
    backend: str,
    shardings=None,
    draws: int = 0,
):
    """Samples up to `max_new` tokens for R rows from the prefilled cache.

    key: one PRNG key, or with draws > 0 per-row keys [R] and row_index [R] (see
    `row_uniforms`).

    cache: per-layer (keys, values) in `backend`'s layout with the prompts left-padded in
    slots [0, P) (each row's real prompt tokens contiguous up to slot P - 1);
    logits: [R, V] after the prompt; prompt_mask: [R, P] bool; active: [R] bool (False for
    batch padding rows, which start finished); eos_ids: [E] int32 (E may be 0). The output
    width is S - P; only the first `max_new` columns are written.
    Returns ((tokens [R, N'], logprobs [R, N'], logprobs_raw [R, N'], lengths [R],
    finished [R]), cache).
    """
    rows_sh = (shardings or (None, None))[0]
    r, p = prompt_mask.shape
    width = cache[0][1].shape[2] - p
    weights = prepare(params, cfg, backend)  # once, outside the loop
    kv_valid = jnp.concatenate([prompt_mask, jnp.ones((r, width), bool)], axis=1)  # [R, S]
    prompt_len = jnp.sum(prompt_mask, axis=1, dtype=jnp.int32)
    lo = p - prompt_len  # first real slot of each (left-padded) row

    def choose(t, logits):
        # Both backends draw with the same uniforms, so their draws agree.
        u = jnp.zeros((r,)) if mode.greedy else row_uniforms(key, t, r, row_index, draws)
        if backend == "kernel" and mode.top_k == 0 and not mode.use_top_p:
            return kernels.sample_rows(logits, u, temperature, greedy=mode.greedy)
        return sample_step(None, logits, mode, temperature, top_p, uniforms=u)

    def pick(t, logits, done):
        tok, lp, lp_raw = choose(t, logits)
        tok = jnp.where(done, pad_id, tok)
        lp, lp_raw = jnp.where(done, 0.0, lp), jnp.where(done, 0.0, lp_raw)
        ends = jnp.any(tok[:, None] == eos_ids[None, :], axis=1) & ~done
        return tok, lp, lp_raw, ends

    def write(state, t, tok, lp, lp_raw, ends):
        toks, lps, lps_raw, lengths, done, finished = state
        toks = jax.lax.dynamic_update_slice(toks, tok[:, None], (0, t))
        lps = jax.lax.dynamic_update_slice(lps, lp[:, None], (0, t))
        lps_raw = jax.lax.dynamic_update_slice(lps_raw, lp_raw[:, None], (0, t))
        lengths = lengths + (~done).astype(jnp.int32)
        done = done | ends | (t + 1 >= max_new)
        return toks, lps, lps_raw, lengths, done, finished | ends

    zeros = jnp.zeros((r, width), jnp.float32)
    state = (
        _constrain(jnp.full((r, width), pad_id, jnp.int32), rows_sh),
        _constrain(zeros, rows_sh),
        _constrain(zeros, rows_sh),
        jnp.zeros((r,), jnp.int32),
        ~active,
        jnp.zeros((r,), bool),
    )
    state = write(state, 0, *pick(0, logits, ~active))

    def cond(carry):
        t, _, _, state = carry
        return (t < max_new) & ~jnp.all(state[4])

    def body(carry):
        t, cache, last, state = carry
        # Feed token t - 1 (slot P + t - 1) to get the distribution of token t.
        logits, cache = decode_step(
            weights, cache, last, prompt_len + t - 1, p + t - 1, kv_valid, lo, cfg, backend
        )
        tok, lp, lp_raw, ends = pick(t, logits, state[4])
        return t + 1, cache, tok, write(state, t, tok, lp, lp_raw, ends)

    last = state[0][:, 0]
    _, cache, _, state = jax.lax.while_loop(cond, body, (jnp.int32(1), cache, last, state))
    toks, lps, lps_raw, lengths, _, finished = state
    # The cache is returned so that its output buffer can alias the donated input: the loop
    # then updates the caller's buffer in place instead of copying it first.
    return (toks, lps, lps_raw, lengths, finished), cache
