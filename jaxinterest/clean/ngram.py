"""Rule-free baseline: logistic regression on hashed word and character n-grams.

Features of one rendered behaviour: word 1-2 grams and character 3-5 grams of the lower-cased
text, hashed with crc32 (stable across processes, unlike Python's salted `hash`) into
`n_buckets` buckets, weighted 1 + log(count), then L2-normalised per row. Rows are stored in
CSR form and padded per batch to (bucket, value) pairs, so the model is w[idx] · val + b
(jitted, trained with optax AdamW on mini-batches). Legend: N rows, F max features per row.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterest.clean.events import row_weights

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclasses.dataclass(frozen=True)
class NgramConfig:
    n_buckets: int = 1 << 18
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)
    max_chars: int = 512  # long inputs are cut: the head of a title or query carries the signal
    epochs: int = 8
    batch_size: int = 512
    learning_rate: float = 0.05
    weight_decay: float = 1e-4
    class_weight: str = "none"  # or "balanced" (see events.class_weights)
    seed: int = 0


def ngrams(text: str, cfg: NgramConfig) -> Counter:
    """Hashed n-gram counts of one text: {bucket: count}."""
    text = text.lower()[: cfg.max_chars]
    grams = []
    words = _WORD.findall(text)
    for n in cfg.word_ngrams:
        grams += ["w:" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    padded = f" {text} "
    for n in cfg.char_ngrams:
        grams += ["c:" + padded[i : i + n] for i in range(len(padded) - n + 1)]
    return Counter(zlib.crc32(g.encode("utf-8")) % cfg.n_buckets for g in grams)


def featurize_csr(texts: list[str], cfg: NgramConfig, progress: bool = False):
    """Sparse rows in CSR form: indptr int64 [N+1], idx int32 [nnz], val float32 [nnz].

    CSR keeps memory at the number of n-grams actually present; padding every row to the
    longest one would cost N * max_len (GBs for 300k events with a few long titles).
    """
    from tqdm import tqdm

    it = tqdm(texts, desc="n-grams", unit="text", mininterval=2, disable=not progress)
    rows = [ngrams(t, cfg) for t in it]
    indptr = np.zeros(len(rows) + 1, np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    idx = np.zeros(indptr[-1], np.int32)
    val = np.zeros(indptr[-1], np.float32)
    for i, r in enumerate(rows):
        if not r:
            continue
        v = 1.0 + np.log(np.fromiter(r.values(), np.float32, len(r)))
        idx[indptr[i] : indptr[i + 1]] = np.fromiter(r.keys(), np.int64, len(r))
        val[indptr[i] : indptr[i + 1]] = v / np.linalg.norm(v)
    return indptr, idx, val


def pad_rows(csr, rows) -> tuple[np.ndarray, np.ndarray]:
    """Padded sparse rows for a batch: idx int32 [B, F], val float32 [B, F] (pads have val 0).

    F is the longest row rounded up to a power of two (>= 64), so jit sees few shapes.
    """
    indptr, idx, val = csr
    lens = indptr[np.asarray(rows) + 1] - indptr[np.asarray(rows)]
    width = 64
    while width < (lens.max() if len(lens) else 0):
        width *= 2
    out_i = np.zeros((len(lens), width), np.int32)
    out_v = np.zeros((len(lens), width), np.float32)
    for j, r in enumerate(rows):
        a, b = indptr[r], indptr[r + 1]
        out_i[j, : b - a] = idx[a:b]
        out_v[j, : b - a] = val[a:b]
    return out_i, out_v


def featurize(texts: list[str], cfg: NgramConfig) -> tuple[np.ndarray, np.ndarray]:
    """Padded sparse rows of all texts: idx int32 [N, F], val float32 [N, F]."""
    return pad_rows(featurize_csr(texts, cfg), np.arange(len(texts)))


def logits(params: dict, idx: jax.Array, val: jax.Array) -> jax.Array:
    """Keep-logit per row. params {"w": [n_buckets], "b": []}; idx, val [N, F] -> [N]."""
    return jnp.sum(params["w"][idx] * val, axis=-1) + params["b"]


_logits_jit = jax.jit(logits)


def _loss(params, idx, val, y, w):
    nll = optax.sigmoid_binary_cross_entropy(logits(params, idx, val), y)
    return jnp.sum(nll * w) / jnp.sum(w)


def train_ngram(
    texts: list[str], labels, cfg: NgramConfig = NgramConfig(), progress=False, sample_weight=None
):
    """Fit the baseline on (text, 0/1 keep label) pairs. Returns params (numpy)."""
    y_all = np.asarray(labels, np.float32)
    if len(texts) != len(y_all) or not len(texts):
        raise ValueError(
            f"need one label per text and at least one text, got "
            f"{len(texts)} texts and {len(y_all)} labels"
        )
    weights = row_weights(y_all, cfg.class_weight, sample_weight)
    csr = featurize_csr(texts, cfg, progress)
    params = {"w": jnp.zeros(cfg.n_buckets, jnp.float32), "b": jnp.zeros((), jnp.float32)}
    opt = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
    state = opt.init(params)

    @jax.jit
    def step(params, state, idx, val, y, w):
        loss, grads = jax.value_and_grad(_loss)(params, idx, val, y, w)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    rng = np.random.default_rng(cfg.seed)
    n, bs = len(y_all), min(cfg.batch_size, len(y_all))
    steps = range(cfg.epochs)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="ngram epochs", unit="epoch")
    for _ in steps:
        order = rng.permutation(n)
        # Drop the ragged tail of each epoch (a fresh permutation covers it next time) so the
        # step compiles once for one batch shape.
        for s in range(0, n - bs + 1, bs):
            b = order[s : s + bs]
            idx, val = pad_rows(csr, b)
            params, state, _ = step(params, state, idx, val, y_all[b], weights[b])
    return jax.tree.map(np.asarray, params)


def predict_proba_ngram(params: dict, texts: list[str], cfg: NgramConfig) -> np.ndarray:
    """P(keep) float32 [N]."""
    if not texts:
        return np.zeros(0, np.float32)
    csr = featurize_csr(texts, cfg)
    out = np.zeros(len(texts), np.float32)
    for s in range(0, len(texts), 4096):  # bounded memory for long event tables
        rows = np.arange(s, min(s + 4096, len(texts)))
        idx, val = pad_rows(csr, rows)
        out[rows] = np.asarray(jax.nn.sigmoid(_logits_jit(params, idx, val)))
    return out


def save_ngram(path: Path, params: dict, cfg: NgramConfig) -> None:
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / "ngram_params.npz", w=params["w"], b=params["b"])
    (path / "ngram_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))


def load_ngram(path: Path) -> tuple[dict, NgramConfig]:
    conf = json.loads((path / "ngram_config.json").read_text())
    for key in ("char_ngrams", "word_ngrams"):
        conf[key] = tuple(conf[key])
    cfg = NgramConfig(**conf)
    with np.load(path / "ngram_params.npz") as z:
        params = {"w": z["w"], "b": z["b"]}
    if params["w"].shape != (cfg.n_buckets,):
        raise ValueError(f"{path}: weight shape {params['w'].shape} != n_buckets {cfg.n_buckets}")
    return params, cfg
