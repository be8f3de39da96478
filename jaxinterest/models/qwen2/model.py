"""The Qwen2 decoder as pure functions over a params pytree.

Shape legend (used in comments and einsums):
  B batch, T query length, S key length (cache slots), D model width, N query heads,
  K kv heads, G = N // K query heads per kv head, H head dim, F MLP width, V vocabulary,
  L layers.

Params are nested dicts of arrays. Per-layer weights are stacked on a leading L axis and the
layers run under `lax.scan`, so compile time does not grow with depth. Without a KV cache (the
training forward) a model of at most `UNROLL_MAX_LAYERS` layers has the scan unrolled: XLA then
keeps each layer's activations for the backward as separate buffers instead of stacking them
into [L, ...] arrays, which makes a GRPO update step cheaper (measured in docs/speed.md), at a
compile time that grows with depth, which only shallow models can afford.

Numerics follow HF transformers' Qwen2: RMSNorm statistics in float32, the norm weight applied
in the activation dtype; RoPE angles in float32 (bf16 positions would alias beyond 256);
attention softmax in float32; logits returned in float32. The forwards without a KV cache (the
training programs) multiply each layer's norm weights into the kernels that read the norm
(`fold_norm_scales`): the same products up to float rounding, a cheaper backward. The norm
and RoPE live in `layers.py`, attention and its mask in `attention.py` (shared with the decode
step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.models.qwen2.attention import MASKED, attend, attention_bias
from jaxinterest.models.qwen2.config import Qwen2Config
from jaxinterest.models.qwen2.layers import rms_norm, rope, rope_tables, wide

Params = dict

UNROLL_MAX_LAYERS = 8  # every tiny preset; the Qwen2.5 and SmolLM2 checkpoints keep the scan


def param_axes(cfg: Qwen2Config) -> Params:
    """Logical axis names of every parameter, in the same tree structure as `init_params`."""
    layers = {
        "attn_norm": {"scale": ("layers", "embed")},
        "q": {"kernel": ("layers", "embed", "heads", "head_dim")},
        "k": {"kernel": ("layers", "embed", "kv_heads", "head_dim")},
        "v": {"kernel": ("layers", "embed", "kv_heads", "head_dim")},
        "o": {"kernel": ("layers", "heads", "head_dim", "embed")},
        "mlp_norm": {"scale": ("layers", "embed")},
        "gate": {"kernel": ("layers", "embed", "mlp")},
        "up": {"kernel": ("layers", "embed", "mlp")},
        "down": {"kernel": ("layers", "mlp", "embed")},
    }
    if cfg.qkv_bias:
        layers["q"]["bias"] = ("layers", "heads", "head_dim")
        layers["k"]["bias"] = ("layers", "kv_heads", "head_dim")
        layers["v"]["bias"] = ("layers", "kv_heads", "head_dim")
    axes = {
        "embed": {"embedding": ("vocab", "embed")},
        "layers": layers,
        "final_norm": {"scale": ("embed",)},
    }
    if not cfg.tie_embeddings:
        axes["lm_head"] = {"kernel": ("embed", "vocab")}
    return axes


def param_shapes(cfg: Qwen2Config) -> Params:
    """Shape of every parameter, in the same tree structure as `param_axes`."""
    size = {
        "layers": cfg.num_layers,
        "embed": cfg.hidden_size,
        "heads": cfg.num_heads,
        "kv_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "mlp": cfg.intermediate_size,
        "vocab": cfg.vocab_size,
    }
    return jax.tree.map(
        lambda axes: tuple(size[a] for a in axes),
        param_axes(cfg),
        is_leaf=lambda x: isinstance(x, tuple),
    )


def abstract_params(cfg: Qwen2Config, dtype=jnp.float32) -> Params:
    """`jax.ShapeDtypeStruct` leaves: the params tree without allocating it."""
    return jax.tree.map(
        lambda shape: jax.ShapeDtypeStruct(shape, dtype),
        param_shapes(cfg),
        is_leaf=lambda x: isinstance(x, tuple),
    )


def init_params(cfg: Qwen2Config, key: jax.Array, dtype=jnp.float32) -> Params:
    """Random init as in HF Qwen2 (normal(0, 0.02) weights, zero biases, unit norms)."""
    shapes = param_shapes(cfg)
    leaves, treedef = jax.tree.flatten(shapes, is_leaf=lambda x: isinstance(x, tuple))
    paths = [
        jax.tree_util.keystr(p)
        for p, _ in jax.tree_util.tree_flatten_with_path(
            shapes, is_leaf=lambda x: isinstance(x, tuple)
        )[0]
    ]
    keys = jax.random.split(key, len(leaves))
    out = []
    for path, shape, k in zip(paths, leaves, keys, strict=True):
        if "scale" in path:
            out.append(jnp.ones(shape, dtype))
        elif "bias" in path:
            out.append(jnp.zeros(shape, dtype))
        else:
            out.append((0.02 * jax.random.normal(k, shape, jnp.float32)).astype(dtype))
    return jax.tree.unflatten(treedef, out)


def _project_qkv(lp, x, tables, cfg: Qwen2Config) -> tuple:
    """q [B, T, N, H], k and v [B, T, K, H] of normed x [B, T, D], RoPE applied to q and k."""
    q = dense(x, lp["q"]["kernel"])  # [B, T, N, H]
    k = dense(x, lp["k"]["kernel"])  # [B, T, K, H]
    v = dense(x, lp["v"]["kernel"])
    if cfg.qkv_bias:
        q, k, v = q + lp["q"]["bias"], k + lp["k"]["bias"], v + lp["v"]["bias"]
    return rope(q, tables), rope(k, tables), v


def _attention(lp, x, tables, bias, cfg: Qwen2Config, kv_cache, write_index):
    """One attention block. Returns (output [B, T, D], updated (k, v) cache or None)."""
    q, k, v = _project_qkv(lp, x, tables, cfg)
    if kv_cache is not None:
        cache_k, cache_v = kv_cache
        start = (0, write_index, 0, 0)
        k = jax.lax.dynamic_update_slice(cache_k, k.astype(cache_k.dtype), start)  # [B, S, K, H]
        v = jax.lax.dynamic_update_slice(cache_v, v.astype(cache_v.dtype), start)
        kv_cache = (k, v)
        k, v = k.astype(x.dtype), v.astype(x.dtype)
    out = attend(q, k, v, bias)  # [B, T, N, H]
    return dense(out, lp["o"]["kernel"], in_axes=2), kv_cache


def dense(x: jax.Array, kernel: jax.Array, in_axes: int = 1) -> jax.Array:
    """x [..., I] (the last `in_axes` axes of x contracted with the first `in_axes` of kernel)
    -> [..., O] as ONE two-dimensional matmul [B*T, I] x [I, O].

    Same product as the einsum it replaces ("btd,dnh->btnh" etc.), but the backward pass is
    what matters: for a 3-D einsum, autodiff's weight gradient contracts over (b, t) and XLA:CPU
    copies the [B, T, O] output gradient into an [O, B*T] layout before the GEMM (measured: such
    transposing copies were a third of a tiny-21m GRPO update's op time). Flat 2-D operands let
    the GEMM read both sides in place."""
    lead = x.shape[: x.ndim - in_axes]
    i = kernel.shape[:in_axes]
    flat = x.reshape(-1, int(np.prod(i))) @ kernel.reshape(int(np.prod(i)), -1)
    return flat.reshape(*lead, *kernel.shape[in_axes:])


def fold_norm_scales(lp: Params) -> Params:
    """One layer's params with each RMSNorm's scale multiplied into the kernels that read the
    norm's output (attention norm into q, k, v; MLP norm into gate, up), for a layer that then
    normalises without a scale: (n * s) @ W = n @ (s[:, None] * W), the same product up to float
    rounding. The backward then gets each scale's gradient from the [D, O] kernel gradients
    instead of a reduction over every token's [D] row (on XLA:CPU those column sums over B * T
    tokens cost more than the small matmuls around them)."""

    def fold(name, scale):
        kernel = lp[name]["kernel"]
        return {**lp[name], "kernel": kernel * scale.reshape(-1, *(1,) * (kernel.ndim - 1))}

    a, m = lp["attn_norm"]["scale"], lp["mlp_norm"]["scale"]
    return lp | {n: fold(n, a) for n in ("q", "k", "v")} | {n: fold(n, m) for n in ("gate", "up")}


def _mlp(lp, x, fused: bool = False):
    """SwiGLU MLP of normed x [B, T, D]. fused (the training forwards): gate and up as one
    [D, 2F] matmul, so the backward's input gradient is one GEMM instead of two plus their sum,
    and `swiglu`'s one-pass VJP; not for decoding, where the kernel concatenation would copy
    every MLP weight at every step."""
    if fused:
        kernel = jnp.concatenate([lp["gate"]["kernel"], lp["up"]["kernel"]], axis=-1)
        return dense(swiglu(dense(x, kernel)), lp["down"]["kernel"])  # [B, T, D]
    gate = dense(x, lp["gate"]["kernel"])  # [B, T, F]
    up = dense(x, lp["up"]["kernel"])
    return dense(jax.nn.silu(gate) * up, lp["down"]["kernel"])  # [B, T, D]


@jax.custom_vjp
def swiglu(gate_up: jax.Array) -> jax.Array:
    """silu(gate) * up for gate_up = [..., 2F] (gate, then up) -> [..., F]. Its VJP forms both
    halves of the gradient in one elementwise pass from the saved input."""
    gate, up = jnp.split(gate_up, 2, axis=-1)
    return jax.nn.silu(gate) * up


def _swiglu_fwd(gate_up):
    return swiglu(gate_up), gate_up


def _swiglu_bwd(gate_up, g):
    gate, up = jnp.split(gate_up, 2, axis=-1)
    sig = jax.nn.sigmoid(gate)
    # d silu(x) / dx = sig(x) (1 + x (1 - sig(x)))
    d_gate = g * up * sig * (1 + gate * (1 - sig))
    return (jnp.concatenate([d_gate, g * gate * sig], axis=-1),)


swiglu.defvjp(_swiglu_fwd, _swiglu_bwd)


def _decoder(params, tokens, positions, bias, cfg: Qwen2Config, cache=None, write_index=0):
    """Embeddings and all layers. Returns (final normed hidden [B, T, D], cache or None)."""
    x = params["embed"]["embedding"][tokens]  # [B, T, D]
    tables = rope_tables(positions, cfg.head_dim, cfg.rope_theta, x.dtype)  # once, not per layer

    def layer(x, inputs):
        lp, kv = inputs
        attn_scale, mlp_scale = lp["attn_norm"]["scale"], lp["mlp_norm"]["scale"]
        if cache is None:  # training forwards: the scales go into the kernels
            lp, attn_scale = fold_norm_scales(lp), jnp.ones((), x.dtype)
            mlp_scale = attn_scale
        with jax.named_scope("attention"):
            h = rms_norm(x, attn_scale, cfg.rms_norm_eps)
            attn, kv = _attention(lp, h, tables, bias, cfg, kv, write_index)
            x = x + attn
        with jax.named_scope("mlp"):
            x = x + _mlp(lp, rms_norm(x, mlp_scale, cfg.rms_norm_eps), fused=cache is None)
        return x, kv

    kv_in = None if cache is None else (cache["k"], cache["v"])
    unroll = cache is None and cfg.num_layers <= UNROLL_MAX_LAYERS  # module docstring
    x, kv_out = jax.lax.scan(layer, x, (params["layers"], kv_in), unroll=unroll)
    x = rms_norm(x, params["final_norm"]["scale"], cfg.rms_norm_eps)
    new_cache = None if cache is None else {"k": kv_out[0], "v": kv_out[1]}
    return x, new_cache


def logits_from_hidden(params: Params, hidden: jax.Array, cfg: Qwen2Config) -> jax.Array:
    """[B, T, D] final hidden -> [B, T, V] float32 logits (tied or untied head)."""
    wide_dtype = wide(hidden.dtype)
    flat = hidden.reshape(-1, hidden.shape[-1])  # [B*T, D]: 2-D for the backward (see `dense`)
    if cfg.tie_embeddings:
        contract = (((1,), (1,)), ((), ()))  # [B*T, D] x [V, D] -> [B*T, V]
        logits = jax.lax.dot_general(
            flat, params["embed"]["embedding"], contract, preferred_element_type=wide_dtype
        )
    else:
        logits = jnp.matmul(flat, params["lm_head"]["kernel"], preferred_element_type=wide_dtype)
    return logits.reshape(*hidden.shape[:-1], logits.shape[-1])


def default_positions(attention_mask: jax.Array) -> jax.Array:
    """Positions that count only real tokens, so padding never shifts RoPE phases. [B, T]."""
    return jnp.maximum(jnp.cumsum(attention_mask.astype(jnp.int32), axis=-1) - 1, 0)


def hidden_states(
    params: Params,
    tokens: jax.Array,
    cfg: Qwen2Config,
    *,
    attention_mask: jax.Array | None = None,
    positions: jax.Array | None = None,
) -> jax.Array:
    """Final normed hidden states [B, T, D] (before the LM head)."""
    b, t = tokens.shape
    if attention_mask is None:
        attention_mask = jnp.ones((b, t), jnp.int32)
    if positions is None:
        positions = default_positions(attention_mask)
    slots = jnp.broadcast_to(jnp.arange(t), (b, t))
    bias = attention_bias(slots, attention_mask.astype(bool))
    hidden, _ = _decoder(params, tokens, positions, bias, cfg)
    return hidden


def forward(
    params: Params,
    tokens: jax.Array,
    cfg: Qwen2Config,
    *,
    attention_mask: jax.Array | None = None,
    positions: jax.Array | None = None,
) -> jax.Array:
    """Causal LM logits [B, T, V] float32 for tokens [B, T].

    attention_mask: [B, T], 1 on real tokens, 0 on padding (left or right). Without explicit
    positions, each row's real tokens get positions 0, 1, 2, ... whatever the padding, so a
    padded row's logits on real tokens equal the unpadded row's.
    """
    h = hidden_states(params, tokens, cfg, attention_mask=attention_mask, positions=positions)
    return logits_from_hidden(params, h, cfg)


def shared_prompt_hidden(
    params: Params,
    prompt_tokens: jax.Array,
    prompt_mask: jax.Array,
    tokens: jax.Array,
    mask: jax.Array,
    cfg: Qwen2Config,
    *,
    group: int,
) -> tuple[jax.Array, jax.Array]:
    """Final normed hidden states of rows that share their prompt in groups of `group`.

    prompt_tokens, prompt_mask: [B, P], one left-padded prompt per group; tokens, mask:
    [B * group, C], each row's continuation (rows b * group ... b * group + group - 1 continue
    prompt b). Returns (prompt hidden [B, P, D], continuation hidden [B * group, C, D]): the
    same values as `hidden_states` over each row's [prompt + continuation] (up to float
    rounding), since a causal prompt never sees what follows it, but the prompt's layers run
    once per group instead of once per row. With G samples per prompt (GRPO) the prompt's
    share of a forward + backward shrinks G-fold; its gradient is the sum over the group.

    All tokens go through every projection as one flat [B * P + B * group * C, D] matmul (see
    `dense`); only attention splits them: prompt queries over the prompt, continuation queries
    over their prompt's keys (repeated over the group) and their own row's keys.
    """
    b, p = prompt_tokens.shape
    r, c = tokens.shape
    if r != b * group:
        raise ValueError(f"{r} continuation rows for {b} prompts in groups of {group}")
    full_mask = jnp.concatenate([jnp.repeat(prompt_mask, group, axis=0), mask], axis=1)
    positions = jnp.concatenate(
        [default_positions(prompt_mask).reshape(-1), default_positions(full_mask)[:, p:].ravel()]
    )[None]  # [1, M], M = B * P + R * C
    bias_p = attention_bias(jnp.broadcast_to(jnp.arange(p), (b, p)), prompt_mask.astype(bool))
    # continuation queries: every real prompt key (all precede them), and their own row's
    # earlier real continuation keys
    prompt_keys = jnp.where(prompt_mask.astype(bool), 0.0, MASKED).astype(jnp.float32)  # [B, P]
    bias_c = attention_bias(jnp.broadcast_to(jnp.arange(c), (r, c)), mask.astype(bool))
    x = params["embed"]["embedding"][jnp.concatenate([prompt_tokens.ravel(), tokens.ravel()])]
    x = x[None]  # [1, M, D]
    tables = rope_tables(positions, cfg.head_dim, cfg.rope_theta, x.dtype)
    n = b * p

    def split(a):  # [1, M, heads, H] -> prompt [B, P, heads, H], continuation [R, C, heads, H]
        return a[0, :n].reshape(b, p, *a.shape[2:]), a[0, n:].reshape(r, c, *a.shape[2:])

    def layer(x, lp):
        lp = fold_norm_scales(lp)
        with jax.named_scope("attention"):
            h = rms_norm(x, jnp.ones((), x.dtype), cfg.rms_norm_eps)
            (qp, qc), (kp, kc), (vp, vc) = map(split, _project_qkv(lp, h, tables, cfg))
            out_p = attend(qp, kp, vp, bias_p)  # [B, P, N, H]
            out_c = attend_continuation(qc, kp, vp, prompt_keys, kc, vc, bias_c)  # [R, C, N, H]
            flat = (out_p.reshape(n, *out_p.shape[2:]), out_c.reshape(r * c, *out_c.shape[2:]))
            out = jnp.concatenate(flat)[None]  # [1, M, N, H]
            x = x + dense(out, lp["o"]["kernel"], in_axes=2)
        with jax.named_scope("mlp"):
            x = x + _mlp(lp, rms_norm(x, jnp.ones((), x.dtype), cfg.rms_norm_eps), fused=True)
        return x, None

    x, _ = jax.lax.scan(layer, x, params["layers"], unroll=cfg.num_layers <= UNROLL_MAX_LAYERS)
    x = rms_norm(x, params["final_norm"]["scale"], cfg.rms_norm_eps)[0]  # [M, D]
    return x[:n].reshape(b, p, -1), x[n:].reshape(r, c, -1)


def attend_continuation(q, prompt_k, prompt_v, prompt_bias, k, v, bias) -> jax.Array:
    """`attend` for continuation queries q [R, C, N, H] over their group's prompt keys and
    values prompt_k, prompt_v [B, P, K, H] (rows b * g ... b * g + g - 1 continue prompt b,
    g = R / B; prompt_bias [B, P] additive, 0 or MASKED) followed by their own row's keys and
    values k, v [R, C, K, H] (bias [R, 1, 1, C, C] from `attention_bias`). Returns
    [R, C, N, H]: the softmax over the P + C keys, the same as `attend` over the prompt keys
    repeated g times and concatenated with the row's own (up to float rounding).

    The two key blocks are scored separately and share one softmax (a common max, one
    denominator), so neither the repeated prompt keys and values nor the [R, ..., P + C]
    scores are ever materialised: the prompt block is one batched matmul per prompt over the
    g * C queries of its group, and the normalisation divides the [R, C, N, H] output instead
    of the probabilities. Scores and softmax in float32 (at least), as in `attend`.
    """
    r, c, n, h = q.shape
    b, p, kv_heads, _ = prompt_k.shape
    g, heads_per_kv = r // b, n // kv_heads
    wide_dtype, scale = wide(q.dtype), h**-0.5
    q = q.reshape(r, c, kv_heads, heads_per_kv, h)  # [R, C, K, Q, H], Q query heads per kv head
    # einsum output orders follow dot_general's (batch, lhs free, rhs free): no transposes
    sp = jnp.einsum("bxckqh,bpkh->bkxcqp", q.reshape(b, g, *q.shape[1:]), prompt_k,
                    preferred_element_type=wide_dtype)  # fmt: skip
    sp = sp * scale + prompt_bias[:, None, None, None, None, :]  # [B, K, g, C, Q, P]
    sc = jnp.einsum("rckqh,rdkh->rkcqd", q, k, preferred_element_type=wide_dtype)
    sc = sc * scale + bias[:, 0, 0][:, None, :, None, :]  # [R, K, C, Q, C]

    def rows(x):  # [B, K, g, C, Q] -> [R, K, C, Q]
        return jnp.swapaxes(x, 1, 2).reshape(r, kv_heads, c, heads_per_kv)

    def groups(x):  # the inverse
        return jnp.swapaxes(x.reshape(b, g, kv_heads, c, heads_per_kv), 1, 2)

    m = jax.lax.stop_gradient(jnp.maximum(rows(jnp.max(sp, -1)), jnp.max(sc, -1)))  # [R, K, C, Q]
    ep = jnp.exp(sp - groups(m)[..., None])
    ec = jnp.exp(sc - m[..., None])
    denom = rows(jnp.sum(ep, -1)) + jnp.sum(ec, -1)  # [R, K, C, Q]
    out_p = jnp.einsum("bkxcqp,bpkh->bkxcqh", ep.astype(q.dtype), prompt_v)
    out_c = jnp.einsum("rkcqd,rdkh->rkcqh", ec.astype(q.dtype), v)  # [R, K, C, Q, H]
    out = (jnp.swapaxes(out_p, 1, 2).reshape(out_c.shape) + out_c) / denom[..., None].astype(
        q.dtype
    )
    return jnp.swapaxes(out, 1, 2).reshape(r, c, n, h)  # [R, C, N, H]


def init_cache(cfg: Qwen2Config, batch: int, max_len: int, dtype=jnp.float32) -> dict:
    """Preallocated KV cache: {"k", "v"} each [L, B, S, K, H], S = max_len slots."""
    shape = (cfg.num_layers, batch, max_len, cfg.num_kv_heads, cfg.head_dim)
    return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)}


def forward_with_cache(
    params: Params,
    tokens: jax.Array,
    cfg: Qwen2Config,
    cache: dict,
    *,
    positions: jax.Array,
    write_index: jax.Array | int,
    kv_valid: jax.Array,
    return_hidden: bool = False,
) -> tuple[jax.Array, dict]:
    """Runs tokens [B, T] against a KV cache, writing their keys/values at cache slots
    [write_index, write_index + T) (the same slots for every row).

    positions: [B, T] RoPE positions of the new tokens (per row, so left-padded prompts work).
    kv_valid: [B, S] bool, which cache slots hold real tokens once these are written.
    Returns (logits [B, T, V] float32, or final hidden [B, T, D] if return_hidden; new cache).
    Prefill is this with T = prompt length and write_index 0; a decode step has T = 1.
    """
    b, t = tokens.shape
    q_slots = write_index + jnp.broadcast_to(jnp.arange(t), (b, t))
    bias = attention_bias(q_slots, kv_valid)
    hidden, cache = _decoder(params, tokens, positions, bias, cfg, cache, write_index)
    if return_hidden:
        return hidden, cache
    return logits_from_hidden(params, hidden, cfg), cache
