"""Frozen configuration of a BERT-family encoder (BERT, RoBERTa, MiniLM), read from HF config.json.

The two families differ in three places only, all captured here:
- position ids: BERT counts 0..T-1; RoBERTa counts from `pad_token_id + 1` over non-pad tokens and
  gives pads the position `pad_token_id` (`position_offset`, `positions_from_mask`);
- token types: RoBERTa checkpoints carry a single token-type row, so ids are always 0;
- the tokenizer (handled by the loader, not the model).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")
SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Shapes and numerics of the encoder. Hashable, so it is passed to jit as a static argument.

    Legend used in model.py: V vocab, P max positions, Y token types, D hidden, N heads,
    H head dim (= D / N), F feed-forward width, L layers.
    """

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    model_type: str = "bert"

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"hidden_act {self.hidden_act!r} not supported; use one of {SUPPORTED_ACTIVATIONS}"
            )
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"model_type {self.model_type!r} not supported; use one of {SUPPORTED_MODEL_TYPES}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def is_roberta(self) -> bool:
        return self.model_type != "bert"

    @property
    def max_tokens(self) -> int:
        """Longest input the position table allows (RoBERTa loses pad_token_id + 1 slots)."""
        if self.is_roberta:
            return self.max_position_embeddings - self.pad_token_id - 1
        return self.max_position_embeddings

    @classmethod
    def from_hf_dict(cls, d: dict) -> EncoderConfig:
        """Build from a parsed HF config.json; unknown keys are ignored, missing ones defaulted."""
        model_type = d.get("model_type", "bert")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(
                f"config.json model_type {model_type!r} is not a BERT/RoBERTa-style encoder "
                f"(supported: {SUPPORTED_MODEL_TYPES})"
            )
        pos_type = d.get("position_embedding_type", "absolute")
        if pos_type not in (None, "absolute"):
            raise ValueError(f"config.json position_embedding_type {pos_type!r} not supported")
        default_pad = 1 if model_type != "bert" else 0
        return cls(
            vocab_size=int(d["vocab_size"]),
            hidden_size=int(d["hidden_size"]),
            num_layers=int(d["num_hidden_layers"]),
            num_heads=int(d["num_attention_heads"]),
            intermediate_size=int(d["intermediate_size"]),
            max_position_embeddings=int(d.get("max_position_embeddings", 512)),
            type_vocab_size=int(d.get("type_vocab_size", 2)),
            layer_norm_eps=float(d.get("layer_norm_eps", 1e-12)),
            hidden_act=str(d.get("hidden_act", "gelu")),
            pad_token_id=int(
                d.get("pad_token_id") if d.get("pad_token_id") is not None else default_pad
            ),
            model_type=model_type,
        )

    @classmethod
    def from_dir(cls, path: str | Path) -> EncoderConfig:
        """Read `path/config.json`."""
        file = Path(path) / "config.json"
        if not file.is_file():
            raise FileNotFoundError(f"no config.json in encoder directory {path}")
        return cls.from_hf_dict(json.loads(file.read_text()))


def minilm_l6() -> EncoderConfig:
    """all-MiniLM-L6-v2 (sentence-transformers), as in its config.json."""
    return EncoderConfig()


def tiny(model_type: str = "bert") -> EncoderConfig:
    """A 2-layer toy encoder for hermetic tests."""
    return EncoderConfig(
        vocab_size=99,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2 if model_type == "bert" else 1,
        layer_norm_eps=1e-12 if model_type == "bert" else 1e-5,
        pad_token_id=0 if model_type == "bert" else 1,
        model_type=model_type,
    )
