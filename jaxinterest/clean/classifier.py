"""One interface over the noise classifiers: train, score held-out events, filter, save, load.

A model directory holds `classifier.json` ({"kind": "ngram" | "encoder", "threshold": t}) and
the files of that kind. `filter_events(events, clf)` is what the data pipeline's `clean_fn`
hook calls: it returns the keep mask, never a silently shortened table.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from jaxinterest.clean import encoder_clf, ngram
from jaxinterest.clean.events import check_inputs, render_behaviors
from jaxinterest.data.columns import column

KINDS = ("ngram", "encoder")


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseClassifier:
    """kind "ngram": model = (params, NgramConfig); kind "encoder": model = EncoderClassifier."""

    kind: str
    model: object
    threshold: float = 0.5

    def predict_proba(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """P(keep) float32 [N] for rendered behaviours."""
        if self.kind == "ngram":
            params, cfg = self.model
            return ngram.predict_proba_ngram(params, texts, cfg)
        return encoder_clf.predict_proba_encoder(self.model, texts, progress=progress)

    def predict(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """0/1 keep labels int8 [N]."""
        return (self.predict_proba(texts, progress) >= self.threshold).astype(np.int8)


def train_classifier(kind: str, texts, labels, config=None, progress=False, sample_weight=None):
    """Train one kind on rendered texts and 0/1 labels. Returns (NoiseClassifier, log dict).
    sample_weight: optional positive weight per text (see events.row_weights).

    Empty or non-string texts and labels other than 0/1 raise, naming the first bad row."""
    check_inputs(texts, labels)
    if kind == "ngram":
        cfg = config or ngram.NgramConfig()
        params = ngram.train_ngram(texts, labels, cfg, progress, sample_weight)
        return NoiseClassifier("ngram", (params, cfg)), {}
    if kind == "encoder":
        cfg = config or encoder_clf.EncoderClfConfig()
        model, log = encoder_clf.train_encoder_clf(texts, labels, cfg, progress, sample_weight)
        return NoiseClassifier("encoder", model), log
    raise ValueError(f"unknown classifier kind {kind!r}; use one of {KINDS}")


def filter_events(events, classifier: NoiseClassifier, progress: bool = False) -> np.ndarray:
    """Keep mask bool [N] over the rows of an events table (True = informative behaviour)."""
    return classifier.predict(render_behaviors(events), progress=progress).astype(bool)


def make_clean_fn(classifier: NoiseClassifier):
    """The data pipeline's `clean_fn`: one user's events table -> bool keep mask (picklable)."""
    return functools.partial(filter_events, classifier=classifier)


class KeepLookup:
    """A `clean_fn` that reads a precomputed keep mask (`clean --apply`'s keep.parquet) by
    event_id, so a training run does not re-run the classifier for every user it visits.
    Picklable (Grain workers). An event missing from the mask raises, naming its id."""

    def __init__(self, keep_table):
        ids = np.asarray(column(keep_table, "event_id"), np.int64)
        keep = np.asarray(column(keep_table, "keep")).astype(bool)
        order = np.argsort(ids, kind="stable")
        self.ids, self.keep = ids[order], keep[order]

    def __call__(self, events) -> np.ndarray:
        want = np.asarray(column(events, "event_id"), np.int64)
        pos = np.minimum(np.searchsorted(self.ids, want), max(len(self.ids) - 1, 0))
        found = (self.ids[pos] == want) if len(self.ids) else np.zeros(len(want), bool)
        if not found.all():
            raise KeyError(f"event_id {int(want[~found][0])} is not in the keep mask")
        return self.keep[pos]


def save_classifier(path: str | Path, clf: NoiseClassifier) -> None:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if clf.kind == "ngram":
        ngram.save_ngram(path, *clf.model)
    else:
        encoder_clf.save_encoder_clf(path, clf.model)
    meta = {"kind": clf.kind, "threshold": clf.threshold}
    (path / "classifier.json").write_text(json.dumps(meta, indent=2))


def load_classifier(path: str | Path) -> NoiseClassifier:
    path = Path(path)
    meta_file = path / "classifier.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file} not found: not a noise classifier directory")
    meta = json.loads(meta_file.read_text())
    kind = meta.get("kind")
    if kind == "ngram":
        model = ngram.load_ngram(path)
    elif kind == "encoder":
        model = encoder_clf.load_encoder_clf(path)
    else:
        raise ValueError(f"{meta_file}: field 'kind' is {kind!r}, expected one of {KINDS}")
    return NoiseClassifier(kind, model, float(meta.get("threshold", 0.5)))
