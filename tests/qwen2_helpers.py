"""Shared helpers for the Qwen2 tests: tiny random configs and the transformers reference."""

from __future__ import annotations

import jax
import numpy as np

from jaxinterest.models.qwen2 import Qwen2Config, init_params


def tiny_config(**overrides) -> Qwen2Config:
    base = dict(
        vocab_size=211,
        hidden_size=64,
        intermediate_size=112,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        head_dim=16,
        rope_theta=10_000.0,
        rms_norm_eps=1e-6,
        tie_embeddings=True,
    )
    base.update(overrides)
    return Qwen2Config(**base)


def random_params(cfg: Qwen2Config, seed: int = 0, scale: float = 0.02):
    """Random params whose norms and biases are also random, so a mapping mistake in any
    leaf changes the logits."""
    params = init_params(cfg, jax.random.key(seed))
    rng = np.random.default_rng(seed + 1)

    def perturb(path, x):
        name = jax.tree_util.keystr(path)
        if "scale" in name:
            return x + rng.normal(0, 0.1, x.shape).astype(np.float32)
        if "bias" in name:
            return x + rng.normal(0, scale * 5, x.shape).astype(np.float32)
        return x * (scale / 0.02)

    return jax.tree_util.tree_map_with_path(perturb, params)


def hf_logits(hf_dir, tokens: np.ndarray, attention_mask=None, position_ids=None) -> np.ndarray:
    """Float32 logits of transformers' own implementation loaded from a HF directory."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    model.eval()
    kwargs = {}
    if attention_mask is not None:
        kwargs["attention_mask"] = torch.tensor(attention_mask)
    if position_ids is not None:
        kwargs["position_ids"] = torch.tensor(position_ids)
    with torch.no_grad():
        return model(torch.tensor(tokens), **kwargs).logits.float().numpy()
