"""Hermetic encoder tests: tiny random BERT/RoBERTa vs transformers (torch), head, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

from jaxinterest.models.encoder import (
    EncoderConfig,
    classify_logits,
    forward,
    init_head,
    init_params,
    load_params,
    param_axes,
    param_shapes,
    params_from_state_dict,
    sentence_embedding,
    state_dict_from_params,
    tiny,
)

SIZES = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
)


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Random values everywhere (HF init leaves LayerNorm at 1/0, which would hide a mix-up)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def _batch(rng, b, t, lo, hi, pad_id):
    """Right-padded random ids with at least one real token per row."""
    ids = rng.integers(lo, hi, size=(b, t))
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t
    mask = (np.arange(t)[None, :] < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids, pad_id)
    return ids, mask


def _save(model, path):
    model.save_pretrained(path, safe_serialization=True)
    return path


def test_tiny_bert_matches_transformers(tmp_path):
    torch.manual_seed(0)
    model = BertModel(BertConfig(**SIZES, max_position_embeddings=64), add_pooling_layer=False)
    _randomize(model, 0)
    model.eval()
    cfg, params = load_params(_save(model, tmp_path))
    assert cfg == tiny("bert")
    rng = np.random.default_rng(0)
    ids, mask = _batch(rng, 4, 13, 0, 99, 0)
    types = rng.integers(0, 2, size=ids.shape)
    with torch.no_grad():
        ref = model(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            token_type_ids=torch.tensor(types),
        ).last_hidden_state.numpy()
    ours = np.asarray(forward(params, ids, mask, cfg, token_type_ids=types))
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_tiny_roberta_matches_transformers(tmp_path):
    torch.manual_seed(1)
    conf = RobertaConfig(**SIZES, max_position_embeddings=66, pad_token_id=1, type_vocab_size=1)
    model = RobertaModel(conf, add_pooling_layer=False)
    _randomize(model, 1)
    model.eval()
    cfg, params = load_params(_save(model, tmp_path))
    assert cfg.is_roberta and cfg.pad_token_id == 1 and cfg.max_tokens == 64
    rng = np.random.default_rng(1)
    ids, mask = _batch(rng, 3, 64, 3, 99, 1)  # full-length row exercises the last position
    with torch.no_grad():
        ref = model(
            input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)
        ).last_hidden_state.numpy()
    ours = np.asarray(forward(params, ids, mask, cfg))
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_head_is_dense_on_mean_pool(tmp_path):
    model = BertModel(BertConfig(**SIZES, max_position_embeddings=64), add_pooling_layer=False)
    _randomize(model, 2)
    model.eval()
    cfg, params = load_params(_save(model, tmp_path))
    ids, mask = _batch(np.random.default_rng(2), 5, 9, 0, 99, 0)
    head = init_head(jax.random.key(0), cfg, num_labels=3)
    with torch.no_grad():
        h = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
        h = h.last_hidden_state.numpy()
    m = mask[..., None].astype(np.float32)
    pooled = (h * m).sum(1) / m.sum(1)
    ref = pooled @ np.asarray(head["w"]) + np.asarray(head["b"])
    ours = np.asarray(classify_logits(params, head, ids, mask, cfg))
    assert ours.shape == (5, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    emb = np.asarray(sentence_embedding(params, ids, mask, cfg))
    np.testing.assert_allclose(
        emb, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), atol=1e-6, rtol=0
    )


def test_gradients_match_finite_differences():
    cfg = tiny("bert")
    params = init_params(jax.random.key(0), cfg, std=0.2)
    head = init_head(jax.random.key(1), cfg)
    ids, mask = _batch(np.random.default_rng(3), 4, 8, 0, 99, 0)
    labels = jnp.array([0, 1, 1, 0])

    def loss(p, h):
        logits = classify_logits(p, h, ids, mask, cfg)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), labels])

    gp, gh = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, head)
    assert jax.tree.structure(gp) == jax.tree.structure(params)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((gp, gh)))
    # Central differences along a random direction through every parameter at once.
    keys = iter(jax.random.split(jax.random.key(2), 64))
    direction = jax.tree.map(lambda x: jax.random.normal(next(keys), x.shape), (params, head))
    eps = 1e-2
    plus = jax.tree.map(lambda x, d: x + eps * d, (params, head), direction)
    minus = jax.tree.map(lambda x, d: x - eps * d, (params, head), direction)
    numeric = (loss(*plus) - loss(*minus)) / (2 * eps)
    analytic = sum(
        jnp.vdot(g, d)
        for g, d in zip(jax.tree.leaves((gp, gh)), jax.tree.leaves(direction), strict=True)
    )
    np.testing.assert_allclose(float(analytic), float(numeric), rtol=2e-2)


def test_state_dict_round_trip_and_axes():
    cfg = tiny("roberta")
    params = jax.tree.map(np.asarray, init_params(jax.random.key(3), cfg))
    back = params_from_state_dict(state_dict_from_params(params, cfg), cfg)
    jax.tree.map(np.testing.assert_array_equal, back, params)
    shapes = jax.tree.map(lambda x: x.shape, params)
    assert shapes == param_shapes(cfg)
    axes = param_axes(cfg)
    is_axes = lambda x: isinstance(x, tuple)  # noqa: E731
    for a, s in zip(
        jax.tree.leaves(axes, is_leaf=is_axes),
        jax.tree.leaves(param_shapes(cfg), is_leaf=is_axes),
        strict=True,
    ):
        assert len(a) == len(s)


def test_bad_checkpoints(tmp_path):
    cfg = tiny("bert")
    sd = state_dict_from_params(jax.tree.map(np.asarray, init_params(jax.random.key(0), cfg)), cfg)
    del sd["encoder.layer.1.output.dense.bias"]
    with pytest.raises(KeyError, match="encoder.layer.1.output.dense.bias"):
        params_from_state_dict(sd, cfg)
    sd = state_dict_from_params(jax.tree.map(np.asarray, init_params(jax.random.key(0), cfg)), cfg)
    wider = EncoderConfig(**{**cfg.__dict__, "intermediate_size": 40})
    with pytest.raises(ValueError, match="w_in"):
        params_from_state_dict(sd, wider)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_params(tmp_path)
    with pytest.raises(ValueError, match="model_type"):
        EncoderConfig.from_hf_dict({**SIZES, "model_type": "gpt2"})


def test_minilm_preset_and_abstract_shapes():
    from jaxinterest.models.encoder import default_model_path, minilm_l6

    cfg = EncoderConfig.from_dir(default_model_path())
    assert cfg == minilm_l6()
    abstract = jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s, jnp.float32),
        param_shapes(cfg),
        is_leaf=lambda x: isinstance(x, tuple),
    )
    ids = jax.ShapeDtypeStruct((3, 256), jnp.int32)
    out = jax.eval_shape(lambda p, i, m: forward(p, i, m, cfg), abstract, ids, ids)
    assert out.shape == (3, 256, 384) and out.dtype == jnp.float32
    head = jax.eval_shape(lambda: init_head(jax.random.key(0), cfg, 2))
    logits = jax.eval_shape(lambda p, h, i, m: classify_logits(p, h, i, m, cfg), abstract, head,
                            ids, ids)  # fmt: skip
    assert logits.shape == (3, 2)


def test_roberta_directory_through_embed(tmp_path):
    """A local RoBERTa dir (weights + its own tokenizer.json) loads and embeds like torch does."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.processors import TemplateProcessing

    from jaxinterest.embed import embed
    from jaxinterest.models.encoder import load_encoder

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3} | {f"w{i}": i for i in range(4, 99)}
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = Whitespace()
    tok.post_processor = TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    conf = RobertaConfig(**SIZES, max_position_embeddings=66, pad_token_id=1, type_vocab_size=1)
    model = RobertaModel(conf, add_pooling_layer=False)
    _randomize(model, 5)
    model.eval()
    _save(model, tmp_path)
    tok.save(str(tmp_path / "tokenizer.json"))
    enc = load_encoder(tmp_path)
    assert enc.max_seq_length == 64  # 66 positions minus pad_token_id + 1
    texts = ["w5 w6 w7", "", "w9 " * 100, "unknown words w10"]
    ours = embed(texts, model=enc, batch_size=2)
    refs = []
    for t in texts:
        ids = tok.encode(t).ids
        ids = ids[:63] + [2] if len(ids) > 64 else ids  # truncation keeps the closing </s>
        with torch.no_grad():
            h = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
        v = h.mean(0)
        refs.append(v / np.linalg.norm(v))
    np.testing.assert_allclose(ours, np.stack(refs), atol=1e-5, rtol=0)
