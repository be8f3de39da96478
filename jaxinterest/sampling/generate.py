"""`generate`: validated host entry point over the jitted prefill/decode programs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxinterest import kernels
from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import Qwen2Config
from jaxinterest.sampling import engine
from jaxinterest.sampling.inputs import (
    as_token_lists,
    bucket,
    check_tokens,
    fine_bucket,
    left_pad,
)
from jaxinterest.sampling.params import SamplingParams
from jaxinterest.sampling.result import Generation
from jaxinterest.sampling.shapes import ShapeBuckets, assemble_on_host


def _mesh_of(params) -> Mesh | None:
    for leaf in jax.tree.leaves(params):
        if isinstance(leaf, jax.Array) and isinstance(leaf.sharding, NamedSharding):
            return leaf.sharding.mesh
    return None


def _row_shardings(mesh: Mesh | None, rules, cfg: Qwen2Config) -> tuple:
    """(rows sharding, per-layer cache buffer [R, K, ...] sharding, number of row shards).

    Rows follow the rules' `batch` axes; cache kv heads follow `kv_heads` (as the k/v
    projections do under tensor parallelism) when they divide evenly.
    """
    if mesh is None:
        return None, None, 1
    rules = shd.get_rules(rules) if isinstance(rules, str) else rules
    spec = shd.logical_to_physical(("batch",), rules)
    heads = shd.logical_to_physical((None, "kv_heads"), rules, (1, cfg.num_kv_heads), mesh)[1]
    axes = spec[0] if isinstance(spec[0], tuple) else (spec[0],) if spec[0] else ()
    rows = NamedSharding(mesh, spec)
    cache = NamedSharding(mesh, PartitionSpec(spec[0], heads))
    return rows, cache, math.prod(mesh.shape[a] for a in axes)


def choose_backend(choice: str, params, cfg: Qwen2Config, mesh: Mesh | None = None) -> str:
    """The decode backend for `generate(backend=choice)`: "kernel" or "xla". "auto" takes the
    CPU kernels when they can serve the call (unsharded float32 params on CPU, a head_dim
    they support)."""
    if choice not in ("auto", "kernel", "xla"):
        raise ValueError(f"backend must be 'auto', 'kernel' or 'xla', got {choice!r}")
    if choice == "xla":
        return "xla"
    leaves = jax.tree.leaves(params)
    platforms = {d.platform for x in leaves if isinstance(x, jax.Array) for d in x.devices()}
    if mesh is not None and mesh.size > 1:
        reason = "params are sharded over several devices (the kernel is per device)"
    elif (platforms or {jax.default_backend()}) != {"cpu"}:
        reason = f"params live on {sorted(platforms or {jax.default_backend()})}, not the CPU"
    else:
        dtypes = {jnp.dtype(x.dtype) for x in leaves}
        dtype = dtypes.pop() if len(dtypes) == 1 else None
        if dtype is None:
            reason = "params mix dtypes"
        else:
            reason = kernels.unsupported_reason(cfg.head_dim, dtype)
    if reason is None:
        return "kernel"
    if choice == "kernel":
        raise ValueError(f"backend='kernel' cannot be used: {reason}")
    return "xla"


def _batch_size(n: int, g: int, shards: int) -> int:
    """Bucketed prompt count >= n whose B * G rows split evenly over the row shards."""
    size = bucket(n, minimum=1)
    for _ in range(64):
        if (size * g) % shards == 0:
            return size
        size = bucket(size + 1, minimum=1)
    step = shards // math.gcd(g, shards)
    return -(-n // step) * step


def generate(
    params,
    cfg: Qwen2Config,
    prompts,
    sampling: SamplingParams,
    *,
    key: jax.Array | None = None,
    keys: jax.Array | None = None,
    pad_id: int = 0,
    max_len: int | None = None,
    batch_rows: int = 256,
    prefill_rows: int = 16,
    mesh: Mesh | None = None,
    rules="fsdp",
    share_prefill: bool = True,
    backend: str = "auto",
    buckets: ShapeBuckets | None = None,
) -> Generation:
    """Samples `sampling.num_samples` continuations of each prompt (lists of token ids, any
    lengths) under `sampling` (see `SamplingParams`); `key` is required unless greedy.

    Rows are prompt-major (see `Generation`). `max_len` bounds prompt + new tokens (default
    cfg.max_position_embeddings). Prompts are processed in chunks of at most `batch_rows`
    decode rows, longest first; within a chunk, groups of `prefill_rows` prompts are
    prefilled at their own bucketed width (to pad little). With params sharded on a mesh
    (found from the params or given), rows are split over the mesh's batch axes under `rules`.
    `backend`: "kernel" (the C++ CPU decode kernels), "xla" (pure JAX, any device or
    sharding) or "auto" (the kernels where they apply, see `choose_backend`).
    `keys` (instead of `key`): one PRNG key per prompt, [B]; prompt i's samples are then drawn
    as `generate([prompts[i]], sampling, key=keys[i])` draws them, whatever else is in the
    batch (`engine.row_uniforms`): what a server batching independent requests needs.
    `buckets`: coarse shapes (see `shapes.ShapeBuckets`; unsharded params only) so that calls
    with ever-changing batches reuse a few compiled programs: the server's setting. The
    samples are those of the default shapes up to floating-point rounding.
    """
    if not isinstance(sampling, SamplingParams):
        raise ValueError(
            f"sampling must be a SamplingParams, got {type(sampling).__name__}; build one with "
            "SamplingParams(max_new_tokens=..., temperature=..., ...)"
        )
    if key is not None and keys is not None:
        raise ValueError("give key (one for the call) or keys (one per prompt), not both")
    if not sampling.greedy and key is None and keys is None:
        raise ValueError("sampling with temperature > 0 needs a PRNG key (key=...)")
    max_new_tokens = sampling.max_new_tokens
    prompts = as_token_lists(prompts)
    check_tokens(prompts, cfg.vocab_size)
    if keys is not None and len(keys) != len(prompts):
        raise ValueError(f"{len(keys)} keys for {len(prompts)} prompts: give one per prompt")
    max_len = max_len or cfg.max_position_embeddings
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError(f"prompt {i} is empty")
        if len(p) + max_new_tokens > max_len:
            raise ValueError(
                f"prompt {i} has {len(p)} tokens; with max_new_tokens={max_new_tokens} it "
                f"exceeds the context of {max_len} tokens"
            )
    bad_stop = [t for t in sampling.stop_ids if not 0 <= t < cfg.vocab_size]
    if bad_stop:
        raise ValueError(f"stop_ids {bad_stop} are outside the vocabulary [0, {cfg.vocab_size})")
    if not 0 <= pad_id < cfg.vocab_size:
        raise ValueError(f"pad_id={pad_id} is outside the vocabulary [0, {cfg.vocab_size})")
    mode = sampling.mode(cfg.vocab_size)
    key = jax.random.key(0) if key is None else key
    g = sampling.num_samples
    mesh = mesh or _mesh_of(params)
    rows_sh, cache_sh, shards = _row_shardings(mesh, rules, cfg)
    backend = choose_backend(backend, params, cfg, mesh)
    if buckets is not None and mesh is not None:
        raise ValueError("buckets= is for unsharded params; sharded calls use the default shapes")
    replicated = None if mesh is None else NamedSharding(mesh, PartitionSpec())
    width = bucket(max_new_tokens) if buckets is None else buckets.new(max_new_tokens)
    scalars = (
        jnp.int32(max_new_tokens),
        jnp.float32(max(sampling.temperature, 1e-6)),
        jnp.float32(sampling.top_p),
        jnp.asarray(sampling.stop_ids, jnp.int32).reshape(-1),
        jnp.int32(pad_id),
    )

    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    per_chunk = max(1, batch_rows // g)
    out = {
        "tokens": np.full((len(prompts) * g, max_new_tokens), pad_id, np.int32),
        "logprobs": np.zeros((len(prompts) * g, max_new_tokens), np.float32),
        "logprobs_raw": np.zeros((len(prompts) * g, max_new_tokens), np.float32),
        "lengths": np.zeros(len(prompts) * g, np.int32),
        "finished": np.zeros(len(prompts) * g, bool),
    }
    for c, start in enumerate(range(0, len(order), per_chunk)):
        idx = order[start : start + per_chunk]
        longest = max(len(prompts[i]) for i in idx)
        if buckets is None:
            b, p = _batch_size(len(idx), g, shards), bucket(longest)
        else:
            b, p = buckets.rows(len(idx)), buckets.prompt(longest)
        chunk = [prompts[i] for i in idx] + [[pad_id]] * (b - len(idx))
        parts, logits = [], []
        size = -(-b // -(-b // prefill_rows))  # equal groups: fewer distinct compiled shapes
        for first in range(0, b, size):  # longest first: similar lengths together
            group = chunk[first : first + size]
            group_longest = max(len(x) for x in group)
            if buckets is None:
                group_width = min(p, fine_bucket(group_longest))
            else:
                group_width = buckets.group(group_longest, p)
            tokens, mask = left_pad(group, group_width, pad_id)
            if mesh is not None:  # split the group's rows too when they divide evenly
                place = rows_sh if len(group) % shards == 0 else replicated
                tokens, mask = jax.device_put((tokens, mask), place)
            part, part_logits = engine.prefill(
                params, tokens, mask, cfg=cfg, repeat=1 if share_prefill else g, backend=backend
            )
            parts.append(part)
            logits.append(part_logits)
        layout = {
            "repeat": g if share_prefill else 1,
            "prompt_len": p,
            "cache_len": p + width,
            "backend": backend,
        }
        if buckets is None:
            shardings = None if mesh is None else (rows_sh, cache_sh)
            cache, logits = engine.assemble(
                tuple(parts), tuple(logits), **layout, shardings=shardings
            )
        else:  # no program per tuple of group shapes
            cache, logits = jax.device_put(assemble_on_host(parts, logits, **layout))
        del parts
        _, mask = left_pad(chunk, p, pad_id)
        active = np.repeat(np.arange(b) < len(idx), g)
        row_mask = np.repeat(np.asarray(mask), g, axis=0)
        chunk_key, row_index, draws = jax.random.fold_in(key, c), None, 0
        if keys is not None and not sampling.greedy:  # each prompt as in a call of its own
            own = [keys[i] for i in idx] + [keys[idx[0]]] * (b - len(idx))
            chunk_key = jnp.repeat(jax.vmap(lambda k: jax.random.fold_in(k, 0))(jnp.stack(own)), g)
            row_index, draws = np.tile(np.arange(g, dtype=np.int32), b), g
        if mesh is not None:
            active, row_mask = jax.device_put((active, row_mask), rows_sh)
            if row_index is not None:
                chunk_key, row_index = jax.device_put((chunk_key, row_index), rows_sh)
        result, cache = engine.decode(
            params,
            cache,
            logits,
            row_mask,
            active,
            chunk_key,
            *scalars,
            row_index,
            cfg=cfg,
            mode=mode,
            backend=backend,
            shardings=None if mesh is None else (rows_sh, cache_sh),
            draws=draws,
        )
        del cache
        result = jax.device_get(result)
        rows = (np.asarray(idx)[:, None] * g + np.arange(g)[None, :]).reshape(-1)
        n = len(idx) * g
        for name, value in zip(out, result, strict=True):
            out[name][rows] = value[:n, :max_new_tokens] if value.ndim == 2 else value[:n]
    return Generation(
        **out,
        prompt_index=np.repeat(np.arange(len(prompts), dtype=np.int32), g),
        num_samples=g,
    )
