"""BERT-family sentence encoder (all-MiniLM-L6-v2 by default) as pure JAX functions."""

from jaxinterest.models.encoder.config import EncoderConfig, minilm_l6, tiny
from jaxinterest.models.encoder.hf import (
    load_params,
    params_from_state_dict,
    read_safetensors,
    state_dict_from_params,
)
from jaxinterest.models.encoder.load import (
    Encoder,
    default_model_path,
    load_encoder,
    load_tokenizer,
    tokenize,
)
from jaxinterest.models.encoder.model import forward, init_params, param_axes, param_shapes
from jaxinterest.models.encoder.pooling import (
    classify_logits,
    head_axes,
    init_head,
    l2_normalize,
    mean_pool,
    sentence_embedding,
)

__all__ = [
    "Encoder",
    "EncoderConfig",
    "classify_logits",
    "default_model_path",
    "forward",
    "head_axes",
    "init_head",
    "init_params",
    "l2_normalize",
    "load_encoder",
    "load_params",
    "load_tokenizer",
    "mean_pool",
    "minilm_l6",
    "param_axes",
    "param_shapes",
    "params_from_state_dict",
    "read_safetensors",
    "sentence_embedding",
    "state_dict_from_params",
    "tiny",
    "tokenize",
]
