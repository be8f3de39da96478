"""Qwen2 configuration: exact Qwen2.5 presets and a tiny CPU family.

The Qwen2.5 numbers are those of the official `config.json` files (Instruct releases). The tiny
family keeps the same architecture (GQA, q/k/v bias, SwiGLU, RMSNorm, RoPE) with a small BPE
vocabulary so that every stage of the pipeline trains end to end on two CPU cores. Its head_dim
is 64 so that the same checkpoints can be served by vLLM (which needs head_dim >= 64).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Qwen2Config:
    """Architecture of a Qwen2-family decoder. Hashable, so it can be a static jit argument."""

    vocab_size: int
    hidden_size: int  # D
    intermediate_size: int  # F
    num_layers: int  # L
    num_heads: int  # N
    num_kv_heads: int  # K
    head_dim: int  # H
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    tie_embeddings: bool = True
    qkv_bias: bool = True  # Qwen2 has q/k/v biases; Llama (SmolLM2) does not.
    max_position_embeddings: int = 32768
    architecture: str = "qwen2"  # "qwen2" or "llama": only changes the HF export names.

    def __post_init__(self):
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}"
            )
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} must be even for RoPE")

    @property
    def num_params(self) -> int:
        """Exact parameter count (embeddings counted once when tied)."""
        d, f, n, k, h = (
            self.hidden_size,
            self.intermediate_size,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
        )
        attn = d * n * h + 2 * d * k * h + n * h * d
        if self.qkv_bias:
            attn += n * h + 2 * k * h
        layer = attn + 3 * d * f + 2 * d
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.num_layers * layer + d + head

    def replace(self, **changes: Any) -> Qwen2Config:
        return dataclasses.replace(self, **changes)


def _qwen25(d, f, layers, heads, kv, vocab, eps, tied) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=vocab,
        hidden_size=d,
        intermediate_size=f,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=d // heads,
        rope_theta=1_000_000.0,
        rms_norm_eps=eps,
        tie_embeddings=tied,
    )


def _tiny(d, f, layers, heads, kv) -> Qwen2Config:
    return Qwen2Config(
        vocab_size=TINY_VOCAB,
        hidden_size=d,
        intermediate_size=f,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=64,
        rope_theta=10_000.0,
        rms_norm_eps=1e-6,
        tie_embeddings=True,
        max_position_embeddings=4096,
    )


# Vocabulary of the tiny family's BPE tokenizer (jaxinterest/assets/tiny_bpe_8k.json).
TINY_VOCAB = 8192

PRESETS: dict[str, Qwen2Config] = {
    # hidden, intermediate, layers, heads, kv heads, vocab, rms eps, tied
    "qwen2.5-0.5b": _qwen25(896, 4864, 24, 14, 2, 151936, 1e-6, True),
    "qwen2.5-1.5b": _qwen25(1536, 8960, 28, 12, 2, 151936, 1e-6, True),
    "qwen2.5-3b": _qwen25(2048, 11008, 36, 16, 2, 151936, 1e-6, True),
    "qwen2.5-7b": _qwen25(3584, 18944, 28, 28, 4, 152064, 1e-6, False),
    "qwen2.5-14b": _qwen25(5120, 13824, 48, 40, 8, 152064, 1e-5, False),
    "qwen2.5-32b": _qwen25(5120, 27648, 64, 40, 8, 152064, 1e-5, False),
    "qwen2.5-72b": _qwen25(8192, 29568, 80, 64, 8, 152064, 1e-5, False),
    # The tiny family, named by approximate parameter count (see `num_params`). Sizes step by
    # about 2x so a scaling sweep over them reads like the paper's 0.5B -> 32B figure.
    # hidden, intermediate, layers, heads, kv heads
    "tiny-1m": _tiny(128, 256, 1, 2, 1),
    # the smallest with two attention layers, the depth that copying a phrase from the prompt
    # takes (docs/training.md, "Policies that read their prompt"): a student for tiny-2m
    "tiny-1.5m": _tiny(128, 384, 2, 2, 1),
    "tiny-2m": _tiny(192, 512, 2, 3, 1),
    "tiny-5m": _tiny(256, 768, 3, 4, 2),
    "tiny-10m": _tiny(384, 1024, 4, 6, 2),
    "tiny-21m": _tiny(512, 1792, 5, 8, 2),
    "tiny-64m": _tiny(768, 2304, 8, 12, 4),
}


def get_preset(name: str) -> Qwen2Config:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise KeyError(f"unknown model preset {name!r}; known presets: {known}") from None


def config_from_hf(source: dict | str | Path) -> Qwen2Config:
    """Builds a config from a HF `config.json` (a dict, the file, or its directory).

    Reads both transformers 4 (`rope_theta` at the top level) and transformers 5
    (`rope_parameters: {rope_theta, rope_type}`) styles, and Qwen2 as well as Llama
    architectures (Llama = Qwen2 without q/k/v biases).
    """
    if not isinstance(source, dict):
        path = Path(source)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        source = json.loads(path.read_text())
    hf = source
    model_type = hf.get("model_type")
    if model_type not in ("qwen2", "llama"):
        raise ValueError(
            f"config model_type={model_type!r} is not a Qwen2-family decoder "
            "(expected 'qwen2' or 'llama')"
        )
    missing = [
        key
        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers")
        if key not in hf
    ]
    if missing:
        raise ValueError(f"config.json lacks required keys {missing}")
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", None):
        raise NotImplementedError(f"rope_type={rope_type!r} is not supported (only 'default')")
    rope_theta = hf.get("rope_theta", rope.get("rope_theta", 10_000.0))
    heads = hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    qkv_bias = model_type == "qwen2" or bool(hf.get("attention_bias", False))
    return Qwen2Config(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        intermediate_size=hf["intermediate_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_dim=head_dim,
        rope_theta=float(rope_theta),
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=qkv_bias,
        max_position_embeddings=int(hf.get("max_position_embeddings", 32768)),
        architecture=model_type,
    )


def config_to_hf(cfg: Qwen2Config, **extra: Any) -> dict:
    """The HF `config.json` dict for `cfg` (transformers 4 style, which 5 also reads)."""
    is_llama = cfg.architecture == "llama"
    out = {
        "architectures": ["LlamaForCausalLM" if is_llama else "Qwen2ForCausalLM"],
        "model_type": cfg.architecture,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rope_theta": cfg.rope_theta,
        "rms_norm_eps": cfg.rms_norm_eps,
        "tie_word_embeddings": cfg.tie_embeddings,
        "max_position_embeddings": cfg.max_position_embeddings,
        "attention_dropout": 0.0,
        "torch_dtype": "float32",
        "use_cache": True,
    }
    if is_llama:
        out["attention_bias"] = cfg.qkv_bias
        out["mlp_bias"] = False
    else:
        out["use_sliding_window"] = False
        out["max_window_layers"] = cfg.num_layers
    out.update(extra)
    return out
