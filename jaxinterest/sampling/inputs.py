"""Host-side input handling: validation, shape buckets, padding.

Shapes are rounded up to a few bucket sizes (see `bucket`) so that repeated calls with
slightly different prompt lengths or batch sizes reuse compiled programs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bucket(n: int, minimum: int = 16, cap: int | None = None) -> int:
    """Smallest bucket size >= max(n, minimum). Buckets: 1, 2, 3, 4, 6, 8, 12, ..., 48, 64,
    then four per octave (64, 80, 96, 112, 128, 160, ...), so padding wastes at most 50%
    below 64 and 25% above. If the bucket exceeds `cap` and cap >= n, the cap itself."""
    n = max(n, minimum, 1)
    size = 1
    while size < n:
        size *= 2
    half, steps = size // 2, (4 if size > 64 else 2)
    for i in range(1, steps):
        if half and half + half * i // steps >= n:
            size = half + half * i // steps
            break
    if cap is not None and size > cap >= n:
        return cap
    return size


def fine_bucket(n: int) -> int:
    """Smallest multiple of max(8, 2^floor(log2 n) / 8) that is >= n: eight sizes per octave
    (8, 16, ..., 64, 72, ..., 128, 144, ...), so padding wastes at most 12.5% (the prefill group
    widths, where padded tokens cost a full forward pass each)."""
    n = max(int(n), 1)
    step = max(8, (1 << (n.bit_length() - 1)) // 8)
    return -(-n // step) * step


def as_token_lists(prompts, what: str = "prompt") -> list[list[int]]:
    """Validates a list of token-id lists (any int sequences / 1-d arrays)."""
    if isinstance(prompts, np.ndarray) and prompts.ndim == 2:
        prompts = list(prompts)
    if not isinstance(prompts, Sequence | np.ndarray) or isinstance(prompts, str | bytes):
        raise ValueError(f"{what}s must be a list of token-id lists, got {type(prompts).__name__}")
    if len(prompts) == 0:
        raise ValueError(f"the {what} list is empty")
    out = []
    for i, p in enumerate(prompts):
        if isinstance(p, str | bytes):
            raise ValueError(f"{what} {i} is a string; tokenize it first")
        arr = np.asarray(p)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{what} {i} is not a flat list of integer token ids")
        out.append([int(t) for t in arr])
    return out


def check_tokens(lists: list[list[int]], vocab_size: int, what: str = "prompt") -> None:
    for i, p in enumerate(lists):
        bad = [t for t in p if not 0 <= t < vocab_size]
        if bad:
            raise ValueError(f"{what} {i} has token ids outside [0, {vocab_size}): {bad[:5]}")


def left_pad(prompts: list[list[int]], width: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """[B, width] int32 tokens and mask, prompts aligned to the right edge."""
    tokens = np.full((len(prompts), width), pad_id, np.int32)
    mask = np.zeros((len(prompts), width), bool)
    for i, p in enumerate(prompts):
        if p:
            tokens[i, width - len(p) :] = p
            mask[i, width - len(p) :] = True
    return tokens, mask


def right_pad(seqs: list[list[int]], width: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """[B, width] int32 tokens and mask, sequences aligned to the left edge."""
    tokens = np.full((len(seqs), width), pad_id, np.int32)
    mask = np.zeros((len(seqs), width), bool)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = s
        mask[i, : len(s)] = True
    return tokens, mask


def pack(
    prompts: list[list[int]],
    completions: list[list[int]],
    pad_id: int,
    prompt_width: int | None = None,
    completion_width: int | None = None,
) -> dict[str, np.ndarray]:
    """The layout `generate` works in: prompts left-padded, completions right-padded after them.

    Returns tokens [B, P + C] int32, attention_mask [B, P + C] bool (real tokens) and
    completion_mask [B, P + C] bool (completion tokens only). Row b's completion starts at
    column P, whatever the prompt length.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    p_width = prompt_width or max(len(p) for p in prompts)
    c_width = completion_width or max(1, max(len(c) for c in completions))
    ptok, pmask = left_pad(prompts, p_width, pad_id)
    ctok, cmask = right_pad(completions, c_width, pad_id)
    return {
        "tokens": np.concatenate([ptok, ctok], axis=1),
        "attention_mask": np.concatenate([pmask, cmask], axis=1),
        "completion_mask": np.concatenate([np.zeros_like(pmask), cmask], axis=1),
    }
