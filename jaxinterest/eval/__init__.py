"""Evaluation: ranking metrics and the queries -> ranked list -> metrics protocol."""

from jaxinterest.eval.metrics import metric_names, per_user_metrics, ranking_metrics
from jaxinterest.eval.recommend import (
    EvalConfig,
    build_test_index,
    evaluate_queries,
    evaluate_vectors,
    held_out_clicks,
    load_queries,
    seen_articles,
)
from jaxinterest.eval.reference import RECOMMENDERS, reference_queries

__all__ = [
    "RECOMMENDERS",
    "EvalConfig",
    "build_test_index",
    "evaluate_queries",
    "evaluate_vectors",
    "held_out_clicks",
    "load_queries",
    "metric_names",
    "per_user_metrics",
    "ranking_metrics",
    "reference_queries",
    "seen_articles",
]
