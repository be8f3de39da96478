"""Every preset builds abstractly, and the Qwen2.5 parameter counts are the official ones."""

import math

import jax
import pytest

from jaxinterest.models.qwen2 import PRESETS, get_preset, init_params, param_axes

# Parameter counts of the official checkpoints (safetensors totals of the Instruct releases).
OFFICIAL = {
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "qwen2.5-3b": 3_085_938_688,
    "qwen2.5-7b": 7_615_616_512,
    "qwen2.5-14b": 14_770_033_664,
    "qwen2.5-32b": 32_763_876_352,
    "qwen2.5-72b": 72_706_203_648,
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_eval_shape_counts(name):
    cfg = get_preset(name)
    shapes = jax.eval_shape(lambda k: init_params(cfg, k), jax.random.key(0))
    count = sum(math.prod(x.shape) for x in jax.tree.leaves(shapes))
    assert count == cfg.num_params
    if name in OFFICIAL:
        assert count == OFFICIAL[name]
    # Every parameter axis has a logical name.
    axes = jax.tree.leaves(param_axes(cfg), is_leaf=lambda x: isinstance(x, tuple))
    for a, s in zip(axes, jax.tree.leaves(shapes), strict=True):
        assert len(a) == len(s.shape) and all(isinstance(n, str) for n in a)


def test_qwen25_0p5b_preset_numbers():
    cfg = get_preset("qwen2.5-0.5b")
    assert (cfg.num_layers, cfg.hidden_size, cfg.intermediate_size) == (24, 896, 4864)
    assert (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (14, 2, 64)
    assert (cfg.vocab_size, cfg.rms_norm_eps, cfg.rope_theta) == (151936, 1e-6, 1e6)
    assert cfg.tie_embeddings and not get_preset("qwen2.5-7b").tie_embeddings
    assert get_preset("qwen2.5-7b").vocab_size == 152064


def test_tiny_family_spans_sizes():
    tiny = [PRESETS[n].num_params for n in PRESETS if n.startswith("tiny-")]
    assert len(tiny) >= 4 and tiny == sorted(tiny)
    assert 1e6 <= tiny[0] and tiny[-1] <= 64e6 * 1.05


def test_unknown_preset_names_known_ones():
    with pytest.raises(KeyError, match="qwen2.5-0.5b"):
        get_preset("qwen2.5-0.6b")
