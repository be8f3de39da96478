"""Event tables as classifier inputs, label joins, user splits and precision/recall/F1.

An events table is the world's `events.parquet` as a pyarrow Table (or any mapping of column
name -> sequence); the cleaning code reads only `event_id`, `user_id`, `domain`, `text`, `url`.
Every classifier (n-gram, encoder, LLM judge) sees the same rendered string per event, so their
scores are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxinterest.data.columns import column, num_rows

DOMAINS = ("search", "browse", "click")


def render_behavior(domain: str, text: str, url: str | None) -> str:
    """One behaviour as the text a classifier reads: `[domain] text`, plus `<url>` for browsing.

    The domain tag matters: the same words can be a news click (interest) or a login page
    (noise), and the URL is the main evidence for a navigational visit.
    """
    out = f"[{domain}] {text}"
    return f"{out} <{url}>" if url else out


def render_behaviors(events) -> list[str]:
    """Rendered text of every event row, in row order. Bad rows raise naming the row."""
    domains, texts, urls = column(events, "domain"), column(events, "text"), column(events, "url")
    out = []
    for row, (d, t, u) in enumerate(zip(domains, texts, urls, strict=True)):
        if d not in DOMAINS:
            raise ValueError(f"events row {row}: field 'domain' is {d!r}, not one of {DOMAINS}")
        if not isinstance(t, str):
            raise ValueError(f"events row {row}: field 'text' is {t!r}, expected a string")
        out.append(render_behavior(d, t, u))
    return out


def join_labels(events, labels, allow_missing: bool = False) -> np.ndarray:
    """Noise labels aligned to the event rows: int8 [N] with 1 = keep, 0 = noise.

    labels: a table with `event_id` and `keep` (the world's oracle/noise_labels.parquet, or
    judge labels of a subset). An event without a label raises, naming its row and id, unless
    `allow_missing`, where it gets -1 (callers count and leave those rows out).
    """
    by_id = dict(zip(column(labels, "event_id"), column(labels, "keep"), strict=True))
    out = np.empty(num_rows(events), np.int8)
    for row, eid in enumerate(column(events, "event_id")):
        keep = by_id.get(eid)
        if keep is None and allow_missing:
            out[row] = -1
            continue
        if keep is None:
            raise KeyError(f"events row {row}: event_id {eid} has no noise label")
        if keep not in (0, 1):
            raise ValueError(f"noise label of event_id {eid} is {keep!r}, expected 0 or 1")
        out[row] = keep
    return out


def user_split_mask(events, users) -> np.ndarray:
    """bool [N]: True where the event's user is in the `train` split of users.parquet.

    Users absent from the users table raise (a world that validates never has them).
    """
    split = dict(zip(column(users, "user_id"), column(users, "split"), strict=True))
    mask = np.empty(num_rows(events), bool)
    for row, uid in enumerate(column(events, "user_id")):
        s = split.get(uid)
        if s is None:
            raise KeyError(f"events row {row}: user_id {uid!r} is not in users.parquet")
        mask[row] = s == "train"
    return mask


def check_inputs(texts, labels) -> None:
    """Empty or non-string texts and labels other than 0/1 raise, naming the first bad row."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not len(texts):
        raise ValueError("no labelled texts: need at least one (text, label) pair")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"events row {i}: field 'text' is {t!r}; expected a non-empty string")
    y = np.asarray(labels)
    bad = np.flatnonzero((y != 0) & (y != 1))
    if len(bad):
        raise ValueError(
            f"events row {bad[0]}: label {y[bad[0]].item()!r} is not 0 (noise) or 1 (keep)"
        )


def class_weights(labels, mode: str) -> np.ndarray:
    """Per-row loss weights float32 [N] for 0/1 labels. "none": all 1. "balanced": each class
    gets total weight N/2 (w_c = N / (2 n_c)), so 9% noise weighs as much as 91% keep and the
    loss does not settle on "keep everything"."""
    y = np.asarray(labels)
    if mode == "none":
        return np.ones(len(y), np.float32)
    if mode != "balanced":
        raise ValueError(f"class_weight must be 'none' or 'balanced', got {mode!r}")
    counts = np.bincount(y.astype(np.int64), minlength=2)[:2]
    w_c = len(y) / (2.0 * np.maximum(counts, 1))
    return w_c[y.astype(np.int64)].astype(np.float32)


def row_weights(labels, class_weight: str, sample_weight=None) -> np.ndarray:
    """Loss weights float32 [N]: class_weights(labels, class_weight) times sample_weight, the
    latter scaled to mean 1 inside each class, so it reorders rows within a class but leaves
    the balance between classes to class_weight."""
    w = class_weights(labels, class_weight)
    if sample_weight is None:
        return w
    sw = np.asarray(sample_weight, np.float64)
    y = np.asarray(labels)
    if sw.shape != y.shape or not np.all(np.isfinite(sw)) or np.any(sw <= 0):
        raise ValueError(f"sample_weight must be {y.shape} finite positive values")
    for c in (0, 1):
        m = y == c
        if m.any():
            sw[m] /= sw[m].mean()
    return (w * sw).astype(np.float32)


def precision_recall_f1(y_true: Sequence[int], y_pred: Sequence[int], positive: int = 1) -> dict:
    """Precision, recall and F1 of the `positive` class, plus accuracy and the counts.

    A ratio with a zero denominator is reported as 0.0 (no predicted / no true positives).
    """
    t = np.asarray(y_true) == positive
    p = np.asarray(y_pred) == positive
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float((t == p).mean()) if t.size else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": accuracy,
        "n": int(t.size),
        "n_positive": int(t.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }
