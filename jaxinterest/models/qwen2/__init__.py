"""The Qwen2 / Qwen2.5 decoder (and Llama-layout checkpoints such as SmolLM2)."""

from jaxinterest.models.qwen2.attention import (
    MASKED,
    attend,
    attend_decode,
    attention_bias,
    fuse_qkv,
    split_qkv,
)
from jaxinterest.models.qwen2.config import (
    PRESETS,
    TINY_VOCAB,
    Qwen2Config,
    config_from_hf,
    config_to_hf,
    get_preset,
)
from jaxinterest.models.qwen2.hf import CheckpointError, load_hf, save_hf
from jaxinterest.models.qwen2.layers import rms_norm, rope, rope_tables
from jaxinterest.models.qwen2.logprobs import gather_logprobs, token_log_softmax, token_logprobs
from jaxinterest.models.qwen2.model import (
    abstract_params,
    default_positions,
    forward,
    forward_with_cache,
    hidden_states,
    init_cache,
    init_params,
    logits_from_hidden,
    param_axes,
    param_shapes,
)

__all__ = [
    "MASKED",
    "PRESETS",
    "TINY_VOCAB",
    "CheckpointError",
    "Qwen2Config",
    "abstract_params",
    "attend",
    "attend_decode",
    "attention_bias",
    "config_from_hf",
    "config_to_hf",
    "default_positions",
    "forward",
    "forward_with_cache",
    "fuse_qkv",
    "gather_logprobs",
    "get_preset",
    "hidden_states",
    "init_cache",
    "init_params",
    "load_hf",
    "logits_from_hidden",
    "param_axes",
    "param_shapes",
    "rms_norm",
    "rope",
    "rope_tables",
    "save_hf",
    "split_qkv",
    "token_log_softmax",
    "token_logprobs",
]
