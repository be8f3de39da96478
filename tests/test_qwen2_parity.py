"""Parity of our Qwen2 forward with transformers.Qwen2ForCausalLM on tiny random configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.models.qwen2 import forward, load_hf, save_hf
from tests.qwen2_helpers import hf_logits, random_params, tiny_config

CONFIGS = {
    "tied-gqa2-theta1e4": tiny_config(),
    "untied-mha-theta1e6": tiny_config(
        num_kv_heads=4, tie_embeddings=False, rope_theta=1_000_000.0
    ),
    "untied-gqa7": tiny_config(
        hidden_size=56, num_heads=7, num_kv_heads=1, head_dim=8, tie_embeddings=False
    ),
    "tied-gqa2-3layers-theta1e6": tiny_config(num_layers=3, rope_theta=1_000_000.0),
}
TOL = 1e-5


@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_match_transformers(name, tmp_path):
    cfg = CONFIGS[name]
    params = random_params(cfg, seed=len(name))
    save_hf(tmp_path, cfg, params)
    tokens = np.random.default_rng(7).integers(0, cfg.vocab_size, (3, 13))
    ours = np.asarray(jax.jit(forward, static_argnums=2)(params, jnp.asarray(tokens), cfg))
    ref = hf_logits(tmp_path, tokens)
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= TOL


def test_padded_batches_match_transformers_and_unpadded(tmp_path):
    cfg = CONFIGS["untied-gqa7"]
    params = random_params(cfg, seed=3)
    save_hf(tmp_path, cfg, params)
    rng = np.random.default_rng(11)
    lengths = [9, 5, 2]
    rows = [rng.integers(1, cfg.vocab_size, n) for n in lengths]
    t = max(lengths)
    for side in ("left", "right"):
        tokens = np.zeros((3, t), np.int64)
        mask = np.zeros((3, t), np.int64)
        for i, row in enumerate(rows):
            sl = slice(t - len(row), t) if side == "left" else slice(0, len(row))
            tokens[i, sl], mask[i, sl] = row, 1
        ours = np.asarray(forward(params, jnp.asarray(tokens), cfg, attention_mask=mask))
        positions = np.maximum(np.cumsum(mask, -1) - 1, 0)
        ref = hf_logits(tmp_path, tokens, attention_mask=mask, position_ids=positions)
        for i, row in enumerate(rows):
            real = mask[i].astype(bool)
            alone = np.asarray(forward(params, jnp.asarray(row[None]), cfg))[0]
            assert np.abs(ours[i][real] - alone).max() <= TOL, (side, i)
            assert np.abs(ours[i][real] - ref[i][real]).max() <= TOL, (side, i)


def test_transformers_save_then_load_hf(tmp_path):
    import torch
    import transformers

    from jaxinterest.models.qwen2 import config_to_hf

    cfg = CONFIGS["untied-mha-theta1e6"]
    torch.manual_seed(0)
    hf_cfg = transformers.Qwen2Config(**config_to_hf(cfg))
    model = transformers.Qwen2ForCausalLM(hf_cfg).eval()
    with torch.no_grad():  # transformers' init leaves biases zero and norms one: randomise them
        for name, p in model.named_parameters():
            if "norm" in name or "bias" in name:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(tmp_path)
    loaded_cfg, params = load_hf(tmp_path)
    assert loaded_cfg == cfg
    tokens = np.random.default_rng(5).integers(0, cfg.vocab_size, (2, 10))
    with torch.no_grad():
        ref = model(torch.tensor(tokens)).logits.numpy()
    ours = np.asarray(forward(params, jnp.asarray(tokens), loaded_cfg))
    assert np.abs(ours - ref).max() <= TOL


def test_sharded_checkpoint_and_bf16_round_trip(tmp_path):
    cfg = CONFIGS["tied-gqa2-theta1e4"]
    params = random_params(cfg, seed=9)
    save_hf(tmp_path / "sharded", cfg, params, max_shard_bytes=20_000)
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    assert len(list((tmp_path / "sharded").glob("model-*.safetensors"))) > 2
    _, loaded = load_hf(tmp_path / "sharded")
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), params, loaded
    )

    save_hf(tmp_path / "bf16", cfg, params, dtype=jnp.bfloat16)
    _, p16 = load_hf(tmp_path / "bf16", dtype=jnp.bfloat16)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(p16))
    tokens = np.random.default_rng(1).integers(0, cfg.vocab_size, (2, 8))
    out16 = np.asarray(forward(p16, jnp.asarray(tokens), cfg))
    ref16 = hf_logits(tmp_path / "bf16", tokens)  # transformers upcasts the bf16 weights
    out32 = np.asarray(forward(params, jnp.asarray(tokens), cfg))
    assert out16.dtype == np.float32 and np.isfinite(out16).all()
    # bf16 activations: agreement at bf16 precision, not fp32.
    assert np.abs(out16 - ref16).max() < 0.05
    assert np.abs(out16 - out32).max() < 0.05


def test_save_hf_with_tokenizer_loads_in_transformers(tmp_path):
    import json

    import transformers

    from jaxinterest.tokenizer import tiny_tokenizer

    cfg = tiny_config(vocab_size=8192)
    tok = tiny_tokenizer()
    save_hf(tmp_path, cfg, random_params(cfg), tokenizer=tok)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    loaded = transformers.AutoTokenizer.from_pretrained(tmp_path)
    text = "arsenal injury news 2026"
    assert loaded.encode(text) == tok.encode(text)
