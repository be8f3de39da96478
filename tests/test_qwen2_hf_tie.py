"""Tied and untied LM heads in HF checkpoints as transformers writes and reads them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save_file

from jaxinterest.models.qwen2 import forward, load_hf, save_hf
from tests.qwen2_helpers import hf_logits, random_params, tiny_config

TOL = 1e-5


def logits(params, cfg, tokens):
    return np.asarray(jax.jit(forward, static_argnums=2)(params, jnp.asarray(tokens), cfg))


def test_config_without_tie_word_embeddings_loads_untied(tmp_path):
    """HF's Qwen2 and Llama configs default to untied: a config.json that omits the key has
    its own lm_head.weight, and using the embedding instead would give other logits."""
    cfg = tiny_config(tie_embeddings=False)
    params = random_params(cfg, seed=4)
    save_hf(tmp_path, cfg, params)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["tie_word_embeddings"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded_cfg, loaded = load_hf(tmp_path)
    assert not loaded_cfg.tie_embeddings and loaded_cfg == cfg
    np.testing.assert_array_equal(
        np.asarray(loaded["lm_head"]["kernel"]), np.asarray(params["lm_head"]["kernel"])
    )
    tokens = np.random.default_rng(0).integers(0, cfg.vocab_size, (2, 9))
    assert np.abs(logits(loaded, loaded_cfg, tokens) - hf_logits(tmp_path, tokens)).max() <= TOL


def test_tied_checkpoint_that_also_stores_lm_head_loads(tmp_path):
    """Some writers store lm_head.weight even when it is tied to the embedding; the loader
    accepts it (as transformers does) and keeps the tied layout."""
    cfg = tiny_config(tie_embeddings=True)
    params = random_params(cfg, seed=6)
    save_hf(tmp_path, cfg, params)
    path = tmp_path / "model.safetensors"
    tensors = load_file(path)
    assert "lm_head.weight" not in tensors
    tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].copy()
    save_file(tensors, path, metadata={"format": "pt"})
    loaded_cfg, loaded = load_hf(tmp_path)
    assert loaded_cfg.tie_embeddings and "lm_head" not in loaded
    tokens = np.random.default_rng(1).integers(0, cfg.vocab_size, (2, 9))
    ours = logits(loaded, loaded_cfg, tokens)
    np.testing.assert_array_equal(ours, logits(params, cfg, tokens))
    assert np.abs(ours - hf_logits(tmp_path, tokens)).max() <= TOL
