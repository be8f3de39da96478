"""A small byte-level BPE for the tiny model family, trained with the `tokenizers` library.

Same pipeline as Qwen2 (NFC, Qwen2 regex split, ByteLevel without prefix space, digits one by
one), so prompts tokenize the same way at a smaller scale. Ids 0, 1, 2 are `<|endoftext|>`,
`<|im_start|>`, `<|im_end|>`; then the 256 byte symbols; then merges up to `vocab_size`.
A trained file ships as package data: `jaxinterest/assets/tiny_bpe_8k.json`
(`experiments/train_tiny_tokenizer.py` regenerates it).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from jaxinterest.tokenizers.bytelevel import qwen_style_pipeline
from jaxinterest.tokenizers.templates import CHATML_TEMPLATE

TINY_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TINY_VOCAB_SIZE = 8192
TINY_ASSET = "tiny_bpe_8k.json"


def train_bpe(
    texts: Iterable[str], vocab_size: int = TINY_VOCAB_SIZE, path: str | Path | None = None
) -> Tokenizer:
    """Train a byte-level BPE with exactly `vocab_size` ids; save it to `path` if given.

    Raises ValueError when the corpus is too small to fill the vocabulary (the trainer stops
    early when no pair is left to merge), because a model config's vocab must match exactly.
    """
    n_fixed = len(TINY_SPECIAL_TOKENS) + 256
    if vocab_size <= n_fixed:
        raise ValueError(f"vocab_size {vocab_size} must exceed {n_fixed} (specials + bytes)")
    tok = Tokenizer(BPE(continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    qwen_style_pipeline(tok)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    got = tok.get_vocab_size(with_added_tokens=True)
    if got != vocab_size:
        raise ValueError(
            f"BPE training reached {got} ids, not {vocab_size}: the corpus has too few distinct "
            "pairs; train on more (or more varied) text"
        )
    for i, special in enumerate(TINY_SPECIAL_TOKENS):
        if tok.token_to_id(special) != i:
            raise AssertionError(f"{special} has id {tok.token_to_id(special)}, expected {i}")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(path))
    return tok


def _asset_path() -> Path:
    return Path(str(importlib.resources.files("jaxinterest") / "assets" / TINY_ASSET))


def wrap_chatml(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """A transformers fast tokenizer over `backend` with the ChatML template, eos/pad set."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHATML_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


@functools.lru_cache(maxsize=4)
def _load(path: str) -> PreTrainedTokenizerFast:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"tiny tokenizer file not found: {file}")
    try:
        backend = Tokenizer.from_file(str(file))
    except Exception as err:
        raise ValueError(f"{file}: not a tokenizers JSON file ({err})") from err
    for i, special in enumerate(TINY_SPECIAL_TOKENS):
        if backend.token_to_id(special) != i:
            raise ValueError(
                f"{file}: {special} must have id {i}, has {backend.token_to_id(special)}"
            )
    return wrap_chatml(backend)


def tiny_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """The tiny family's tokenizer (default: the shipped 8,192-id asset). Shared instance."""
    return _load(str(Path(path).resolve()) if path is not None else str(_asset_path()))
