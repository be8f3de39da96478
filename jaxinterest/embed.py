"""`embed(texts)`: the one text -> vector entry point (retrieval, rewards, judge, baselines).

Texts are tokenized, sorted by token count and cut into batches; each batch is padded to a
bucketed shape (length: a power of two >= 8 or the max length; rows: a power of two up to
`batch_size`), so jit compiles at most ~len(length buckets) * log2(batch_size) programs however
many distinct lengths arrive. Results come back in the input order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import numpy as np

from jaxinterest.models.encoder.load import Encoder, load_encoder, token_ids
from jaxinterest.models.encoder.pooling import sentence_embedding

DEFAULT_BATCH_SIZE = 128


@functools.cache
def default_encoder() -> Encoder:
    """all-MiniLM-L6-v2, loaded once per process."""
    return load_encoder()


_embed_jit = jax.jit(sentence_embedding, static_argnames=("cfg", "normalize"))


def _bucket(n: int, cap: int, floor: int = 8) -> int:
    """Smallest power of two >= n (and >= floor), capped at `cap`."""
    b = floor
    while b < n:
        b *= 2
    return min(b, cap)


def check_texts(texts) -> list[str]:
    """The texts as a list, or a TypeError naming the first bad index."""
    if isinstance(texts, str | bytes):
        raise TypeError("texts must be a sequence of str, not a single string; wrap it in a list")
    if not isinstance(texts, Sequence | np.ndarray):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__} ({t!r:.40}); expected str")
    return texts


def embed(
    texts: Sequence[str],
    *,
    model: Encoder | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_length: int | None = None,
) -> np.ndarray:
    """L2-normalised sentence embeddings, float32 [N, D], row i for texts[i].

    `max_length` (tokens, special tokens included) defaults to the model's max_seq_length (256
    for all-MiniLM-L6-v2); longer texts are truncated. Empty strings embed the special tokens
    alone; an empty list gives shape [0, D].
    """
    texts = check_texts(texts)
    model = model or default_encoder()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    max_length = min(max_length or model.max_seq_length, model.cfg.max_tokens)
    out = np.zeros((len(texts), model.dim), np.float32)
    if not texts:
        return out
    ids = token_ids(model, texts, max_length)
    lengths = np.array([len(r) for r in ids])
    order = np.argsort(lengths, kind="stable")
    pending = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = _bucket(int(lengths[rows].max()), max_length)
        height = _bucket(len(rows), batch_size, floor=1)
        input_ids = np.full((height, width), model.cfg.pad_token_id, np.int32)
        mask = np.zeros((height, width), np.int32)  # filler rows stay all-pad and are dropped
        for j, r in enumerate(rows):
            input_ids[j, : lengths[r]] = ids[r]
            mask[j, : lengths[r]] = 1
        # Dispatch without waiting: XLA runs this batch while Python packs the next.
        pending.append((rows, _embed_jit(model.params, input_ids, mask, model.cfg)))
    for rows, vecs in pending:
        out[rows] = np.asarray(vecs)[: len(rows)]
    return out
