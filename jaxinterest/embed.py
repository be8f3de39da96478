"""`embed(texts)`: the one text -> vector entry point (retrieval, rewards, judge, baselines).

A text's vector is a pure function of the text (and the model, max_length and batch_size): it
never depends on which other texts share the call. XLA's float sums are exact functions of the
program's shapes but not across shapes: the same text padded to another width, or in a batch of
another height, comes out ~1e-7 different (and a GRPO reward built on it then depends on which
texts happened to be embedded together: a resumed run or another cache history diverged). So
each text is padded to its own length bucket (a power of two >= 8, capped at max_length), and
every batch of one bucket has the same number of rows, `rows_per_batch(width)`, filler rows
all padding. Within one shape a row's result does not depend on the other rows
(tests/test_train_reproducible.py checks it bitwise). jit compiles one program per length
bucket; results come back in the input order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import numpy as np

from jaxinterest.models.encoder.load import Encoder, load_encoder, token_ids
from jaxinterest.models.encoder.pooling import sentence_embedding

DEFAULT_BATCH_SIZE = 128
# Bumped whenever the batching changes the vectors' bits: caches of embeddings (the rewards'
# article cache) key on it, so a run never mixes vectors of two layouts.
LAYOUT_VERSION = 2
# Tokens per batch (rows x padded width): small, so a call with a few texts (one GRPO
# iteration's new behaviour texts and queries) pads little, while bulk calls (every article
# title) run about the tokens the previous sorted 128-row batches ran.
BATCH_TOKENS = 256


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


def rows_per_batch(width: int, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Rows of every batch of padded width `width`: BATCH_TOKENS // width, within
    [1, batch_size]. A function of the width alone, so a text's batch shape never depends on
    how many other texts share its bucket."""
    return max(1, min(batch_size, BATCH_TOKENS // width))


def batch_layout(lengths, max_length: int, batch_size: int = DEFAULT_BATCH_SIZE) -> list:
    """The batches `embed` runs for texts of these token counts: [(width, height, rows)], rows
    an int array of input positions (in input order within a length bucket), each batch padded
    to [height, width] with height = rows_per_batch(width). Also what a bench counts as the
    tokens run (sum of width * height)."""
    widths = np.array([_bucket(int(n), max_length) for n in lengths], np.int64)
    out = []
    for width in np.unique(widths).tolist():
        members = np.flatnonzero(widths == width)
        height = rows_per_batch(width, batch_size)
        out += [(width, height, members[s : s + height]) for s in range(0, len(members), height)]
    return out


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
    alone; an empty list gives shape [0, D]. batch_size caps the rows of a batch (see
    `rows_per_batch`); row i depends on texts[i] alone, never on the other texts.
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
    lengths = [len(r) for r in ids]
    pending = []
    for width, height, rows in batch_layout(lengths, max_length, batch_size):
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
