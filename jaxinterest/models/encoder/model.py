"""BERT-family encoder as pure functions over a params pytree.

Legend: B batch, T tokens, S key tokens, D hidden, N heads, H head dim, F feed-forward width,
L layers, V vocab, P positions, Y token types.

Params (nested dicts of arrays; layers are stacked on a leading L axis and run with lax.scan, so
the compiled graph holds one layer and `jax.grad` sees one ordinary pytree):

    embed:  word [V, D], position [P, D], token_type [Y, D], norm {scale, bias} [D]
    layers: wq/wk/wv [L, D, N, H], bq/bk/bv [L, N, H], wo [L, N, H, D], bo [L, D],
            attn_norm {scale, bias} [L, D], w_in [L, D, F], b_in [L, F],
            w_out [L, F, D], b_out [L, D], mlp_norm {scale, bias} [L, D]

The layer is post-LN (BERT): x = LN(x + attn(x)); x = LN(x + mlp(x)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.models.encoder.config import EncoderConfig


def param_axes(cfg: EncoderConfig) -> dict:
    """Logical axis names of every parameter, in the same tree structure as the params."""
    norm = {"scale": ("embed",), "bias": ("embed",)}
    lnorm = {"scale": ("layers", "embed"), "bias": ("layers", "embed")}
    qkv_w = ("layers", "embed", "heads", "head_dim")
    qkv_b = ("layers", "heads", "head_dim")
    return {
        "embed": {
            "word": ("vocab", "embed"),
            "position": ("positions", "embed"),
            "token_type": ("token_types", "embed"),
            "norm": norm,
        },
        "layers": {
            "wq": qkv_w,
            "bq": qkv_b,
            "wk": qkv_w,
            "bk": qkv_b,
            "wv": qkv_w,
            "bv": qkv_b,
            "wo": ("layers", "heads", "head_dim", "embed"),
            "bo": ("layers", "embed"),
            "attn_norm": lnorm,
            "w_in": ("layers", "embed", "mlp"),
            "b_in": ("layers", "mlp"),
            "w_out": ("layers", "mlp", "embed"),
            "b_out": ("layers", "embed"),
            "mlp_norm": lnorm,
        },
    }


def param_shapes(cfg: EncoderConfig) -> dict:
    """Shape of every parameter, same tree as `param_axes`."""
    sizes = {
        "vocab": cfg.vocab_size,
        "positions": cfg.max_position_embeddings,
        "token_types": cfg.type_vocab_size,
        "embed": cfg.hidden_size,
        "layers": cfg.num_layers,
        "heads": cfg.num_heads,
        "head_dim": cfg.head_dim,
        "mlp": cfg.intermediate_size,
    }
    return jax.tree.map(
        lambda axes: tuple(sizes[a] for a in axes),
        param_axes(cfg),
        is_leaf=lambda x: isinstance(x, tuple),
    )


def init_params(key: jax.Array, cfg: EncoderConfig, std: float = 0.02) -> dict:
    """Random params (normal(std) matrices, zero biases, unit norm scales), float32."""
    is_shape = lambda x: isinstance(x, tuple)  # noqa: E731
    shapes = param_shapes(cfg)
    n = len(jax.tree.leaves(shapes, is_leaf=is_shape))
    keys = iter(jax.random.split(key, n))

    def init(path, shape):
        name = path[-1].key  # leaf name: "scale", "bias", "bq", "w_in", ...
        k = next(keys)
        if name == "scale":
            return jnp.ones(shape, jnp.float32)
        if name == "bias" or name.startswith("b"):
            return jnp.zeros(shape, jnp.float32)
        return std * jax.random.normal(k, shape, jnp.float32)

    return jax.tree_util.tree_map_with_path(init, shapes, is_leaf=is_shape)


def layer_norm(x: jax.Array, norm: dict, eps: float) -> jax.Array:
    """LayerNorm over the last axis, computed in float32 (variance of small numbers)."""
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + eps)
    return (y * norm["scale"] + norm["bias"]).astype(x.dtype)


def _activation(name: str):
    if name == "gelu":  # BERT/RoBERTa "gelu" is the exact erf form, not the tanh approximation
        return lambda x: jax.nn.gelu(x, approximate=False)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: jax.nn.gelu(x, approximate=True)
    return jax.nn.relu


def position_ids(input_ids: jax.Array, attention_mask: jax.Array, cfg: EncoderConfig):
    """[B, T] position ids. RoBERTa counts from pad_token_id + 1 over non-pad tokens (as HF does,
    from input_ids != pad_token_id); BERT uses 0..T-1."""
    if cfg.is_roberta:
        not_pad = (input_ids != cfg.pad_token_id).astype(jnp.int32)
        return jnp.cumsum(not_pad, axis=1) * not_pad + cfg.pad_token_id
    return jnp.broadcast_to(jnp.arange(input_ids.shape[1], dtype=jnp.int32), input_ids.shape)


def embed_tokens(params, input_ids, attention_mask, cfg: EncoderConfig, token_type_ids=None):
    """Sum of word, position and token-type embeddings, then LayerNorm. -> [B, T, D]."""
    emb = params["embed"]
    if token_type_ids is None:
        token_type_ids = jnp.zeros_like(input_ids)
    x = (
        emb["word"][input_ids]
        + emb["position"][position_ids(input_ids, attention_mask, cfg)]
        + emb["token_type"][token_type_ids]
    )
    return layer_norm(x, emb["norm"], cfg.layer_norm_eps)


def encoder_layer(x, layer, key_mask, cfg: EncoderConfig):
    """One post-LN transformer layer. x [B, T, D]; key_mask [B, 1, 1, S] bool."""
    q = jnp.einsum("btd,dnh->btnh", x, layer["wq"]) + layer["bq"]
    k = jnp.einsum("bsd,dnh->bsnh", x, layer["wk"]) + layer["bk"]
    v = jnp.einsum("bsd,dnh->bsnh", x, layer["wv"]) + layer["bv"]
    scores = jnp.einsum("btnh,bsnh->bnts", q, k) / jnp.sqrt(jnp.float32(cfg.head_dim))
    # Masked keys get the most negative float, like HF's additive mask, so exp() gives exactly 0.
    scores = jnp.where(key_mask, scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(x.dtype)
    ctx = jnp.einsum("bnts,bsnh->btnh", probs, v)
    attn = jnp.einsum("btnh,nhd->btd", ctx, layer["wo"]) + layer["bo"]
    x = layer_norm(x + attn, layer["attn_norm"], cfg.layer_norm_eps)
    h = _activation(cfg.hidden_act)(jnp.einsum("btd,df->btf", x, layer["w_in"]) + layer["b_in"])
    out = jnp.einsum("btf,fd->btd", h, layer["w_out"]) + layer["b_out"]
    return layer_norm(x + out, layer["mlp_norm"], cfg.layer_norm_eps)


def forward(params, input_ids, attention_mask, cfg: EncoderConfig, token_type_ids=None):
    """Last hidden states.

    input_ids, attention_mask (1 = real token, 0 = pad), token_type_ids: int [B, T].
    Returns float32 [B, T, D]. Differentiable in params.
    """
    with jax.named_scope("encoder_embed"):
        x = embed_tokens(params, input_ids, attention_mask, cfg, token_type_ids)
    key_mask = (attention_mask > 0)[:, None, None, :]  # [B, 1, 1, S]

    def step(x, layer):
        with jax.named_scope("encoder_layer"):
            return encoder_layer(x, layer, key_mask, cfg), None

    x, _ = jax.lax.scan(step, x, params["layers"])
    return x
