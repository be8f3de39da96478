"""HF safetensors <-> encoder params, for BERT and RoBERTa-style checkpoints.

One table maps each HF tensor name to a params path and a layout transform; every tensor's
shape is checked against `param_shapes(cfg)`. Torch Linear stores [out, in], we store [in, out]
with heads split out (wq [D, N, H], wo [N, H, D]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from jaxinterest.models.encoder.config import EncoderConfig
from jaxinterest.models.encoder.model import param_shapes

# Prefixes HF task models put in front of the bare encoder's names.
_PREFIXES = ("", "bert.", "roberta.", "model.", "encoder_model.")

_EMBED = {
    "embeddings.word_embeddings.weight": ("embed", "word"),
    "embeddings.position_embeddings.weight": ("embed", "position"),
    "embeddings.token_type_embeddings.weight": ("embed", "token_type"),
    "embeddings.LayerNorm.weight": ("embed", "norm", "scale"),
    "embeddings.LayerNorm.bias": ("embed", "norm", "bias"),
}
# name inside encoder.layer.{i}. -> (params key, kind)
_LAYER = {
    "attention.self.query.weight": (("wq",), "qkv_w"),
    "attention.self.query.bias": (("bq",), "qkv_b"),
    "attention.self.key.weight": (("wk",), "qkv_w"),
    "attention.self.key.bias": (("bk",), "qkv_b"),
    "attention.self.value.weight": (("wv",), "qkv_w"),
    "attention.self.value.bias": (("bv",), "qkv_b"),
    "attention.output.dense.weight": (("wo",), "out_w"),
    "attention.output.dense.bias": (("bo",), "vec"),
    "attention.output.LayerNorm.weight": (("attn_norm", "scale"), "vec"),
    "attention.output.LayerNorm.bias": (("attn_norm", "bias"), "vec"),
    "intermediate.dense.weight": (("w_in",), "linear"),
    "intermediate.dense.bias": (("b_in",), "vec"),
    "output.dense.weight": (("w_out",), "linear"),
    "output.dense.bias": (("b_out",), "vec"),
    "output.LayerNorm.weight": (("mlp_norm", "scale"), "vec"),
    "output.LayerNorm.bias": (("mlp_norm", "bias"), "vec"),
}


def _to_ours(t: np.ndarray, kind: str, cfg: EncoderConfig) -> np.ndarray:
    n, h = cfg.num_heads, cfg.head_dim
    if kind == "qkv_w":  # [N*H, D] -> [D, N, H]
        return t.T.reshape(cfg.hidden_size, n, h)
    if kind == "qkv_b":
        return t.reshape(n, h)
    if kind == "out_w":  # [D, N*H] -> [N, H, D]
        return t.T.reshape(n, h, cfg.hidden_size)
    if kind == "linear":
        return t.T
    return t


def _to_hf(t: np.ndarray, kind: str, cfg: EncoderConfig) -> np.ndarray:
    d = cfg.hidden_size
    if kind == "qkv_w":
        return t.reshape(d, d).T
    if kind == "qkv_b":
        return t.reshape(-1)
    if kind == "out_w":
        return t.reshape(d, d).T
    if kind == "linear":
        return t.T
    return t


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of every *.safetensors file in a directory (handles sharded checkpoints)."""
    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"no *.safetensors in {path}; convert the checkpoint with "
            "transformers' save_pretrained(safe_serialization=True)"
        )
    tensors: dict[str, np.ndarray] = {}
    for f in files:
        tensors.update(load_file(str(f)))
    return tensors


def params_from_state_dict(tensors: dict[str, np.ndarray], cfg: EncoderConfig) -> dict:
    """Map HF tensor names to our params pytree (float32 numpy leaves), checking every shape."""
    prefix = next(
        (p for p in _PREFIXES if f"{p}embeddings.word_embeddings.weight" in tensors), None
    )
    if prefix is None:
        raise KeyError("checkpoint has no embeddings.word_embeddings.weight (not a BERT encoder?)")
    shapes = param_shapes(cfg)
    out: dict = {"embed": {"norm": {}}, "layers": {"attn_norm": {}, "mlp_norm": {}}}

    def put(path, value):
        want = shapes
        for p in path:
            want = want[p]
        if tuple(value.shape) != tuple(want):
            raise ValueError(f"{'/'.join(path)}: checkpoint shape {value.shape}, config {want}")
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = np.ascontiguousarray(value, dtype=np.float32)

    for name, path in _EMBED.items():
        key = prefix + name
        if key not in tensors:
            raise KeyError(f"checkpoint is missing {key}")
        put(path, tensors[key])
    for name, (sub, kind) in _LAYER.items():
        stack = []
        for i in range(cfg.num_layers):
            key = f"{prefix}encoder.layer.{i}.{name}"
            if key not in tensors:
                raise KeyError(f"checkpoint is missing {key}")
            stack.append(_to_ours(np.asarray(tensors[key], np.float32), kind, cfg))
        put(("layers", *sub), np.stack(stack))
    return out


def state_dict_from_params(params: dict, cfg: EncoderConfig) -> dict[str, np.ndarray]:
    """Inverse of `params_from_state_dict`: bare HF encoder names (no task prefix)."""
    sd = {}
    for name, path in _EMBED.items():
        node = params
        for p in path:
            node = node[p]
        sd[name] = np.asarray(node, np.float32)
    for name, (sub, kind) in _LAYER.items():
        node = params["layers"]
        for p in sub:
            node = node[p]
        for i in range(cfg.num_layers):
            sd[f"encoder.layer.{i}.{name}"] = np.ascontiguousarray(
                _to_hf(np.asarray(node[i], np.float32), kind, cfg)
            )
    return sd


def load_params(path: str | Path, cfg: EncoderConfig | None = None) -> tuple[EncoderConfig, dict]:
    """(config, params) from a local HF encoder directory (config.json + *.safetensors)."""
    cfg = cfg or EncoderConfig.from_dir(path)
    return cfg, params_from_state_dict(read_safetensors(path), cfg)
