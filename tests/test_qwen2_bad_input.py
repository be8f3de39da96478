"""Loading something that is not a Qwen2 checkpoint fails with an error naming the problem."""

import json

import numpy as np
import pytest

from jaxinterest.models.qwen2 import CheckpointError, config_from_hf, load_hf, save_hf
from jaxinterest.models.safetensors_io import SafetensorsReader, write_safetensors
from tests.qwen2_helpers import random_params, tiny_config


@pytest.fixture
def checkpoint(tmp_path):
    cfg = tiny_config(num_layers=1)
    save_hf(tmp_path / "ok", cfg, random_params(cfg))
    return tmp_path / "ok"


def _rewrite(path, edit):
    reader = SafetensorsReader(path / "model.safetensors")
    tensors = {k: np.array(reader.get(k)) for k in reader.keys()}
    edit(tensors)
    del reader
    write_safetensors(path / "model.safetensors", tensors)


def test_not_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a directory"):
        load_hf(tmp_path / "nope")


def test_no_config(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_hf(tmp_path)


def test_other_architecture(checkpoint):
    cfg = json.loads((checkpoint / "config.json").read_text())
    cfg["model_type"] = "bert"
    (checkpoint / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="model_type='bert'"):
        load_hf(checkpoint)


def test_no_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        load_hf(checkpoint)


def test_missing_tensor(checkpoint):
    _rewrite(checkpoint, lambda t: t.pop("model.layers.0.mlp.up_proj.weight"))
    with pytest.raises(CheckpointError, match="missing tensor model.layers.0.mlp.up_proj.weight"):
        load_hf(checkpoint)


def test_misshapen_tensor(checkpoint):
    def edit(t):
        t["model.layers.0.self_attn.k_proj.weight"] = t["model.layers.0.self_attn.k_proj.weight"][
            :-1
        ]

    _rewrite(checkpoint, edit)
    with pytest.raises(CheckpointError, match="k_proj.weight has shape \\(31, 64\\)"):
        load_hf(checkpoint)


def test_corrupt_file(checkpoint):
    (checkpoint / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="header"):
        load_hf(checkpoint)


def test_config_styles_transformers_4_and_5():
    v4 = {
        "model_type": "qwen2",
        "vocab_size": 10,
        "hidden_size": 8,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "rope_theta": 1e6,
        "tie_word_embeddings": True,
    }
    v5 = {k: v for k, v in v4.items() if k != "rope_theta"}
    v5["rope_parameters"] = {"rope_theta": 1e6, "rope_type": "default"}
    assert config_from_hf(v4) == config_from_hf(v5)
    assert config_from_hf(v4).rope_theta == 1e6
    with pytest.raises(NotImplementedError, match="yarn"):
        config_from_hf({**v4, "rope_scaling": {"type": "yarn", "factor": 4.0}})
