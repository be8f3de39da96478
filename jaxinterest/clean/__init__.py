"""Noise cleaning (paper §4.2): classify each behaviour as informative (1) or noise (0).

Held-out evaluation (random, text-disjoint, template-disjoint and leave-one-kind-out splits):
`compare`, see docs/cleaning.md."""

from jaxinterest.clean.classifier import (
    KINDS,
    KeepLookup,
    NoiseClassifier,
    filter_events,
    load_classifier,
    make_clean_fn,
    save_classifier,
    train_classifier,
)
from jaxinterest.clean.compare import CompareConfig, Contender, compare, fit_with_threshold
from jaxinterest.clean.encoder_clf import EncoderClfConfig
from jaxinterest.clean.events import (
    join_labels,
    precision_recall_f1,
    render_behavior,
    render_behaviors,
    user_split_mask,
)
from jaxinterest.clean.judge import (
    JUDGE_SYSTEM_PROMPT,
    JUDGE_USER_TEMPLATE,
    JudgeAnswerError,
    judge_messages,
    labels_from_judge,
    parse_judge_label,
)
from jaxinterest.clean.ngram import NgramConfig
from jaxinterest.clean.splits import (
    Split,
    group_ids,
    group_split,
    kind_out_splits,
    normalise_text,
    random_split,
    template_split,
)

__all__ = [
    "CompareConfig",
    "Contender",
    "Split",
    "compare",
    "fit_with_threshold",
    "group_ids",
    "group_split",
    "kind_out_splits",
    "normalise_text",
    "random_split",
    "template_split",
    "JUDGE_SYSTEM_PROMPT",
    "JUDGE_USER_TEMPLATE",
    "KINDS",
    "EncoderClfConfig",
    "KeepLookup",
    "JudgeAnswerError",
    "NgramConfig",
    "NoiseClassifier",
    "filter_events",
    "join_labels",
    "judge_messages",
    "labels_from_judge",
    "load_classifier",
    "make_clean_fn",
    "parse_judge_label",
    "precision_recall_f1",
    "render_behavior",
    "render_behaviors",
    "save_classifier",
    "train_classifier",
    "user_split_mask",
]
