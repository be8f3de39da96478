"""GGUF -> HF conversion, on a tiny Llama GGUF written here (fast) and on SmolLM2 (slow).

References: llama.cpp's q/k row permutation written out in this test (its inverse must give back
the HF weights exactly), transformers' own GGUF loader (tensors, config, logits) and its GGUF
tokenizer.
"""

import json

import gguf
import numpy as np
import pytest
import torch
import transformers

from jaxinterest.models.qwen2.gguf import gguf_to_hf, smollm2_gguf_path, write_hf_dir

CHAT = [
    {"role": "system", "content": "You write short news search queries."},
    {"role": "user", "content": "I read about the Tour de France and electric bikes."},
]


def llama_cpp_permute(w, n_heads):
    """llama.cpp convert_hf_to_gguf: per head, interleave the two rotary halves of the rows."""
    hd = w.shape[0] // n_heads
    return w.reshape(n_heads, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny_llama_hf(seed=0, layers=2, hidden=32, heads=4, kv_heads=2, ffn=48, vocab=300):
    rng = np.random.default_rng(seed)
    hd = hidden // heads

    def mat(*shape):
        return rng.standard_normal(shape).astype(np.float32) * 0.1

    hf = {"model.embed_tokens.weight": mat(vocab, hidden), "model.norm.weight": 1 + mat(hidden)}
    hf["lm_head.weight"] = mat(vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        hf |= {
            p + "input_layernorm.weight": 1 + mat(hidden),
            p + "post_attention_layernorm.weight": 1 + mat(hidden),
            p + "self_attn.q_proj.weight": mat(heads * hd, hidden),
            p + "self_attn.k_proj.weight": mat(kv_heads * hd, hidden),
            p + "self_attn.v_proj.weight": mat(kv_heads * hd, hidden),
            p + "self_attn.o_proj.weight": mat(hidden, heads * hd),
            p + "mlp.gate_proj.weight": mat(ffn, hidden),
            p + "mlp.up_proj.weight": mat(ffn, hidden),
            p + "mlp.down_proj.weight": mat(hidden, ffn),
        }
    dims = dict(layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, ffn=ffn, vocab=vocab)
    return hf, dims


def byte_vocab(vocab):
    """A byte-level vocab: 256 byte symbols, a few merges, specials, filler up to `vocab`."""
    from jaxinterest.tokenizers.bytelevel import BYTE_TO_CHAR

    tokens = [BYTE_TO_CHAR[b] for b in range(256)]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
    tokens += [m.replace(" ", "") for m in merges]
    types = [1] * len(tokens)
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types += [3, 3, 3]
    while len(tokens) < vocab:
        tokens.append(f"<unused{len(tokens)}>")
        types.append(4)
    return tokens, types, merges


def write_tiny_gguf(path, arch="llama", tied=False, seed=0, drop=(), extra=None):
    hf, d = tiny_llama_hf(seed)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-test")
    w.add_block_count(d["layers"])
    w.add_context_length(128)
    w.add_embedding_length(d["hidden"])
    w.add_feed_forward_length(d["ffn"])
    w.add_head_count(d["heads"])
    w.add_head_count_kv(d["kv_heads"])
    w.add_rope_freq_base(100000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(d["hidden"] // d["heads"])
    w.add_vocab_size(d["vocab"])
    tokens, types, merges = byte_vocab(d["vocab"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(257 + 4)
    w.add_eos_token_id(256 + 5 + 2)
    w.add_chat_template(
        "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"
    )
    names = {v: k for k, v in _gguf_names(d["layers"]).items()}
    for name, value in hf.items():
        if (tied and name == "lm_head.weight") or names[name] in drop:
            continue
        if name.endswith("q_proj.weight"):
            value = llama_cpp_permute(value, d["heads"])
        elif name.endswith("k_proj.weight"):
            value = llama_cpp_permute(value, d["kv_heads"])
        w.add_tensor(names[name], value)
    if extra is not None:
        w.add_tensor(extra, np.ones(d["hidden"] // d["heads"] // 2, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if tied:
        hf.pop("lm_head.weight")
    return hf, d


def _gguf_names(layers):
    from jaxinterest.models.qwen2.gguf import LLAMA_NAMES

    out = {}
    for g, h in LLAMA_NAMES.items():
        for i in range(layers) if "{i}" in g else [None]:
            out[g.replace("{i}", str(i))] = h.replace("{i}", str(i))
    return out


@pytest.mark.parametrize("tied", [False, True])
def test_tiny_gguf_recovers_hf_weights_exactly(tmp_path, tied):
    path = tmp_path / "tiny.gguf"
    hf, d = write_tiny_gguf(path, tied=tied)
    config, tensors, tok = gguf_to_hf(path)
    assert set(tensors) == set(hf)
    for name, want in hf.items():
        np.testing.assert_array_equal(tensors[name], want, err_msg=name)
    assert config["tie_word_embeddings"] is tied
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (4, 2)
    assert (config["hidden_size"], config["intermediate_size"], config["vocab_size"]) == (
        32,
        48,
        300,
    )
    assert config["rope_theta"] == 100000.0 and config["head_dim"] == 8
    # smollm pre-tokenizer: digits isolated first, then GPT-2 split; "h e" is the only merge hit.
    pieces = tok.convert_ids_to_tokens(tok("the 42<|im_end|>").input_ids)
    assert pieces == ["t", "he", "Ġ", "4", "2", "<|im_end|>"]


def test_tiny_gguf_matches_transformers_loader(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path, seed=1)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name)
    config, tensors, tok = gguf_to_hf(path)
    ref_sd = ref.state_dict()
    for name, value in tensors.items():
        np.testing.assert_array_equal(value, ref_sd[name].numpy(), err_msg=name)
    out = write_hf_dir(path, tmp_path / "hf")
    reloaded = transformers.AutoTokenizer.from_pretrained(str(out))
    text = "<|im_start|>the 2024 in<|im_end|>"
    assert reloaded(text).input_ids == tok(text).input_ids
    ours = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    ids = torch.tensor([[1, 5, 77, 260, 3, 299, 12]])
    with torch.no_grad():
        np.testing.assert_allclose(ours(ids).logits, ref(ids).logits, rtol=0, atol=1e-6)
    saved = json.loads((out / "config.json").read_text())
    assert saved["architectures"] == ["LlamaForCausalLM"]
    assert ours.config.rope_parameters["rope_theta"] == 100000.0


def test_not_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(ValueError, match="not a GGUF file"):
        gguf_to_hf(bad)
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        gguf_to_hf(tmp_path / "missing.gguf")


def test_other_architecture(tmp_path):
    path = tmp_path / "gpt2.gguf"
    w = gguf.GGUFWriter(str(path), "gpt2")
    w.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ValueError, match="architecture 'gpt2' is not supported"):
        gguf_to_hf(path)


def test_missing_and_unknown_tensors(tmp_path):
    write_tiny_gguf(tmp_path / "a.gguf", drop=("blk.1.ffn_up.weight",))
    with pytest.raises(
        ValueError, match=r"missing tensors \['model.layers.1.mlp.up_proj.weight'\]"
    ):
        gguf_to_hf(tmp_path / "a.gguf")
    write_tiny_gguf(tmp_path / "b.gguf", extra="rope_freqs.weight")  # Llama-3 rope scaling
    with pytest.raises(ValueError, match="unexpected tensor 'rope_freqs.weight'"):
        gguf_to_hf(tmp_path / "b.gguf")


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    path = smollm2_gguf_path()
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    ref_tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    out = write_hf_dir(path, tmp_path_factory.mktemp("smollm2_hf"))
    return path, ref, ref_tok, out


@pytest.mark.slow
def test_smollm2_tensors_equal_transformers(smollm2):
    path, ref, _, _ = smollm2
    config, tensors, _ = gguf_to_hf(path)
    ref_sd = ref.state_dict()
    # transformers lists the tied lm_head (the same tensor as the embedding); the file has none.
    assert set(ref_sd) - set(tensors) == {"lm_head.weight"} and config["tie_word_embeddings"]
    for name, value in tensors.items():  # includes every un-permuted q_proj/k_proj
        np.testing.assert_array_equal(value, ref_sd[name].numpy(), err_msg=name)
    for key in ("hidden_size", "num_hidden_layers", "num_key_value_heads", "vocab_size"):
        assert config[key] == getattr(ref.config, key)
    assert config["rope_theta"] == ref.config.rope_parameters["rope_theta"] == 100000.0


@pytest.mark.slow
def test_smollm2_tokenizer_and_logits(smollm2):
    _, ref, ref_tok, out = smollm2
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    prompt = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert prompt == ref_tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    ids = tok(prompt).input_ids
    assert ids == ref_tok(prompt).input_ids
    model = transformers.AutoModelForCausalLM.from_pretrained(str(out))
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits
        want = ref(torch.tensor([ids])).logits
    np.testing.assert_allclose(ours, want, rtol=0, atol=1e-5)
