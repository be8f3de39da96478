"""Continuous batching on the device: R decode rows ("slots") in one fixed-shape cache, one
jitted step over every row, and the jitted insertion of newly prefilled requests into free
rows between steps. The host side (which request goes where, when) is `serve.continuous`.

Cache layout. Each layer keeps one (keys, values) pair with R rows and S slots, in the decode
backend's layout (`sampling.step.slot_axes`). Every row writes its new key/value at one shared
slot `c`, which moves one to the right per step (the CPU decode kernels write all rows at one
slot); row r holds its prompt and tokens contiguously in [lo_r, c] and attends there only. A
request that joins at pointer c with an L-token prompt gets its prompt at [c - L, c): it was
prefilled at its group's width, padded on the host to the prompt bucket P on the left, and the
window [c - P, c) of its row is overwritten (stale slots of the row's previous occupant). When
c reaches S the whole cache is shifted left (`compact`) by as much as every live row allows
while c stays >= P; a row lives at most P + N slots (N = the output bucket), so with
S = P + N + M a shift happens at most every M steps.

What a row computes is what `sampling.generate([prompt], key=key(seed))` computes for that
prompt alone: the same prefill program, RoPE position L + t for token t, attention over the
same keys, and the same per-row random stream (`uniform(fold_in(fold_in(key, 0), t), (1,))`,
`sampling.engine.row_uniforms`). Floating-point sums over another batch or width may differ in
the last bits, as for the dynamic batcher (docs/serving.md).

Per-row sampling. Temperature, greedy and top-p are arrays over rows, not per-call values.
The CPU token-choice kernel takes one temperature per call, so rows point into a small table
of (greedy, temperature) entries and the kernel runs once per entry in use (a `lax.cond`
skips the others); rows with top-p < 1 take `filters.sample_step`'s nucleus path with their
own temperature and top-p, which is the path `generate` takes for them. top-k and n > 1 are
left to the dynamic batcher.

Legend: R rows, S cache slots, N output width, V vocabulary, M table entries, b rows inserted.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinterest import kernels
from jaxinterest.models.qwen2 import Qwen2Config, rms_norm, rope_tables
from jaxinterest.sampling.engine import XLA_OPTIONS
from jaxinterest.sampling.filters import SamplingMode, sample_step
from jaxinterest.sampling.step import decode_step, slot_axes

ENTRIES = 4  # (greedy, temperature) table entries: distinct temperatures decoding at once


def init_state(cfg: Qwen2Config, rows: int, slots: int, width: int, backend: str, dtype) -> dict:
    """Every row empty (done). Cache buffers per layer in `backend`'s layout."""
    k_shape = (rows, cfg.num_kv_heads, slots, cfg.head_dim)
    if backend != "kernel":
        k_shape = (rows, cfg.num_kv_heads, cfg.head_dim, slots)
    v_shape = (rows, cfg.num_kv_heads, slots, cfg.head_dim)
    cache = tuple(
        (jnp.zeros(k_shape, dtype), jnp.zeros(v_shape, dtype)) for _ in range(cfg.num_layers)
    )
    i32 = functools.partial(jnp.zeros, (rows,), jnp.int32)
    return {
        "cache": cache,
        "last": i32(),  # token fed at the next step
        "pos": i32(),  # its RoPE position
        "lo": i32(),  # first cache slot of the row's prompt
        "t": i32(),  # index of the next token drawn
        "max_new": i32(),
        "tidx": i32(),  # table entry: greedy or which temperature
        "top_p": jnp.ones((rows,), jnp.float32),
        "key": jnp.zeros((rows, 2), jnp.uint32),  # key data of fold_in(key(seed), 0)
        "done": jnp.ones((rows,), bool),
        "tokens": jnp.zeros((rows, width), jnp.int32),
        "logprobs": jnp.zeros((rows, width), jnp.float32),
        "logprobs_raw": jnp.zeros((rows, width), jnp.float32),
        "lengths": i32(),
        "finished": jnp.zeros((rows,), bool),
    }


def row_uniforms(keys: jax.Array, t: jax.Array) -> jax.Array:
    """[R] uniforms: row r's draw for its token t[r] from its key data keys[r] [R, 2], as
    `engine.row_uniforms` draws it for a prompt alone (one sample per prompt)."""

    def one(k, t):
        key = jax.random.wrap_key_data(k)
        return jax.random.uniform(jax.random.fold_in(key, t), (1,))[0]

    return jax.vmap(one)(keys, t)


def choose(logits, u, live, tidx, top_p, table, *, backend: str, use_top_p: bool):
    """(tokens [R], logprob [R], logprob_raw [R]) for logits [R, V] float32, each row under its
    own table entry tidx [R] (table: {"greedy": [M] bool, "temperature": [M] float32}) and
    top_p [R]; rows not `live` get zeros. With use_top_p False every top_p must be 1."""
    r = logits.shape[0]
    greedy = table["greedy"][tidx]
    temperature = table["temperature"][tidx]
    zeros = (jnp.zeros((r,), jnp.int32), jnp.zeros((r,), jnp.float32), jnp.zeros((r,), jnp.float32))
    if backend == "kernel":
        out = zeros
        for m in range(table["greedy"].shape[0]):
            use = live & (tidx == m)

            def run(m=m):
                return jax.lax.cond(
                    table["greedy"][m],
                    lambda: kernels.sample_rows(logits, u, table["temperature"][m], greedy=True),
                    lambda: kernels.sample_rows(logits, u, table["temperature"][m], greedy=False),
                )

            got = jax.lax.cond(jnp.any(use), run, lambda: zeros)
            out = tuple(jnp.where(use, g, o) for g, o in zip(got, out, strict=True))
    else:
        plain = sample_step(None, logits, SamplingMode(), temperature[:, None], 1.0, uniforms=u)
        argmax = sample_step(None, logits, SamplingMode(greedy=True), 1.0, 1.0)
        out = tuple(jnp.where(greedy, g, p) for g, p in zip(argmax, plain, strict=True))
    if use_top_p:  # the nucleus rows, as generate samples them (its XLA path)
        nucleus = live & ~greedy & (top_p < 1.0)

        def run_nucleus():
            mode = SamplingMode(use_top_p=True)
            return sample_step(None, logits, mode, temperature[:, None], top_p, uniforms=u)

        got = jax.lax.cond(jnp.any(nucleus), run_nucleus, lambda: zeros)
        out = tuple(jnp.where(nucleus, g, o) for g, o in zip(got, out, strict=True))
    return out


def _record(st: dict, rows, tok, lp, lp_raw, eos_ids, pad_id) -> dict:
    """Writes token t of each row in `rows` (all rows: slice(None)) and advances it."""
    done, t = st["done"][rows], st["t"][rows]
    live = ~done
    tok = jnp.where(done, pad_id, tok)
    lp, lp_raw = jnp.where(done, 0.0, lp), jnp.where(done, 0.0, lp_raw)
    ends = jnp.any(tok[:, None] == eos_ids[None, :], axis=1) & live
    width = st["tokens"].shape[1]
    col = (jnp.arange(width)[None, :] == t[:, None]) & live[:, None]  # [r, N]
    for name, value in (("tokens", tok), ("logprobs", lp), ("logprobs_raw", lp_raw)):
        st[name] = st[name].at[rows].set(jnp.where(col, value[:, None], st[name][rows]))
    step = live.astype(jnp.int32)  # .set, not .add: a row listed twice must advance once
    st["lengths"] = st["lengths"].at[rows].set(st["lengths"][rows] + step)
    st["done"] = st["done"].at[rows].set(done | ends | (t + 1 >= st["max_new"][rows]))
    st["finished"] = st["finished"].at[rows].set(st["finished"][rows] | ends)
    st["t"] = st["t"].at[rows].set(t + step)
    st["pos"] = st["pos"].at[rows].set(st["pos"][rows] + step)
    st["last"] = st["last"].at[rows].set(jnp.where(live, tok, st["last"][rows]))
    return st


def decode_live(dp, caches, live, last, pos, slot, lo, cfg: Qwen2Config):
    """`sampling.step.decode_step` on the "kernel" backend for the rows `live` [r] only:
    embeddings, matmuls and the LM head run on those r rows, the attention kernel on all R
    (its cost for a row is the row's own slots: one slot for an empty row), so a step costs
    what its live rows need, not R rows. Returns (logits [r, V] float32, new caches).
    Entries of `live` past the live rows repeat one empty row (equal values, so the scatter
    of their q/k/v is well defined)."""
    r_all, h, d = pos.shape[0], cfg.head_dim, cfg.hidden_size
    qkv_width = (cfg.num_heads + 2 * cfg.num_kv_heads) * h
    eps = cfg.rms_norm_eps
    x = dp["embed"][last[live]]  # [r, D]
    tables = rope_tables(pos[:, None], h, cfg.rope_theta, x.dtype)  # for all R rows
    cos, sin = (t.reshape(r_all, h) for t in tables)
    new_caches = []
    for lp, (cache_k, cache_v) in zip(dp["layers"], caches, strict=True):
        qkv = kernels.matmul(rms_norm(x, lp["attn_norm"], eps), lp["qkv"], qkv_width)
        if cfg.qkv_bias:
            qkv = qkv + lp["qkv_bias"]
        every = jnp.zeros((r_all, qkv_width), qkv.dtype).at[live].set(qkv)  # [R, (N + 2K) H]
        out, cache_k, cache_v = kernels.decode_attention(
            every, cos, sin, cache_k, cache_v, lo, slot,
            heads=cfg.num_heads, kv_heads=cfg.num_kv_heads,
        )  # fmt: skip
        new_caches.append((cache_k, cache_v))
        x = x + kernels.matmul(out[live], lp["o"], d)
        normed = rms_norm(x, lp["mlp_norm"], eps)
        width = 2 * cfg.intermediate_size
        gate, up = jnp.split(kernels.matmul(normed, lp["gate_up"], width), 2, -1)
        x = x + kernels.matmul(jax.nn.silu(gate) * up, lp["down"], d)
    x = rms_norm(x, dp["final_norm"], eps)
    return kernels.matmul(x, dp["head"], cfg.vocab_size), tuple(new_caches)


@functools.partial(
    jax.jit,
    static_argnames=("cfg", "backend", "use_top_p"),
    donate_argnames=("state",),
    compiler_options=XLA_OPTIONS,
)
def step(
    weights, state, live, slot, table, eos_ids, pad_id, *, cfg: Qwen2Config, backend, use_top_p
):
    """One decode step: feeds the last token of each row in `live` [r] (the live rows, padded
    with an empty row to one of a few sizes) at the shared cache slot `slot` and draws its
    next token. weights: `sampling.step.prepare(params, cfg, backend)`. On the "kernel" backend
    only the listed rows compute (`decode_live`); the pure-JAX backend runs
    `sampling.step.decode_step` over every row and keeps the listed ones."""
    st = dict(state)
    done = st["done"]
    lo = jnp.where(done, slot, st["lo"])  # an empty row attends its own new slot only
    if backend == "kernel":
        logits, st["cache"] = decode_live(
            weights, st["cache"], live, st["last"], st["pos"], slot, lo, cfg
        )
    else:
        slots = st["cache"][0][1].shape[2]
        iota = jnp.arange(slots)[None, :]
        kv_valid = (iota >= lo[:, None]) & (iota <= slot)  # [R, S]
        logits, st["cache"] = decode_step(
            weights, st["cache"], st["last"], st["pos"], slot, kv_valid, lo, cfg, backend
        )
        logits = logits[live]
    u = row_uniforms(st["key"][live], st["t"][live])
    tok, lp, lp_raw = choose(
        logits, u, ~done[live], st["tidx"][live], st["top_p"][live], table,
        backend=backend, use_top_p=use_top_p,
    )  # fmt: skip
    return _record(st, live, tok, lp, lp_raw, eos_ids, pad_id)


@functools.partial(jax.jit, static_argnames=("backend", "use_top_p"), donate_argnames=("state",))
def insert(
    state,
    part,
    logits,
    rows,
    offset,
    prompt_len,
    keys,
    tidx,
    top_p,
    max_new,
    table,
    eos_ids,
    pad_id,
    *,
    backend: str,
    use_top_p: bool,
):
    """Puts b prefilled prompts into rows `rows` [b] and draws their first tokens.

    part: per layer (keys, values) with b rows and P slots in `backend`'s layout, each prompt
    ending at slot P; written at slots [offset, offset + P) of its row (offset = c - P for the
    next step's slot c). logits [b, V] after each prompt; prompt_len, tidx, top_p, max_new [b];
    keys [b, 2] key data of fold_in(key(seed), 0). A row listed twice must get equal data.
    """
    st = dict(state)
    axes = slot_axes(backend)
    cache = []
    for layer, pair in zip(st["cache"], part, strict=True):
        new = []
        for buf, piece, axis in zip(layer, pair, axes, strict=True):
            for i in range(piece.shape[0]):
                start = [rows[i], 0, 0, 0]
                start[axis] = offset
                buf = jax.lax.dynamic_update_slice(buf, piece[i : i + 1].astype(buf.dtype), start)
            new.append(buf)
        cache.append(tuple(new))
    st["cache"] = tuple(cache)
    width = part[0][0].shape[axes[0]]
    b = rows.shape[0]
    fresh = {
        "pos": prompt_len - 1,  # token 0 (drawn here) goes in at position L
        "lo": offset + width - prompt_len,
        "t": jnp.zeros((b,), jnp.int32),
        "max_new": max_new,
        "tidx": tidx,
        "top_p": top_p,
        "key": keys,
        "done": jnp.zeros((b,), bool),
        "lengths": jnp.zeros((b,), jnp.int32),
        "finished": jnp.zeros((b,), bool),
    }
    for name, value in fresh.items():
        st[name] = st[name].at[rows].set(value)
    n = st["tokens"].shape[1]
    st["tokens"] = st["tokens"].at[rows].set(jnp.full((b, n), pad_id, jnp.int32))
    for name in ("logprobs", "logprobs_raw"):
        st[name] = st[name].at[rows].set(jnp.zeros((b, n), jnp.float32))
    u = row_uniforms(keys, jnp.zeros((b,), jnp.int32))
    live = jnp.ones((b,), bool)
    tok, lp, lp_raw = choose(
        logits.astype(jnp.float32), u, live, tidx, top_p, table, backend=backend,
        use_top_p=use_top_p,
    )  # fmt: skip
    return _record(st, rows, tok, lp, lp_raw, eos_ids, pad_id)


@functools.partial(jax.jit, static_argnames=("backend",), donate_argnames=("state",))
def compact(state, shift, *, backend: str):
    """Shifts every row's cache `shift` slots to the left (the slots that wrap around to the
    end are never read: they lie past the shared write slot)."""
    st = dict(state)
    axes = slot_axes(backend)
    st["cache"] = tuple(
        tuple(jnp.roll(buf, -shift, axis=axis) for buf, axis in zip(pair, axes, strict=True))
        for pair in st["cache"]
    )
    st["lo"] = st["lo"] - shift
    return st
