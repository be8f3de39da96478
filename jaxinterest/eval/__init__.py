"""Evaluation: ranking metrics and the queries → ranked list → metrics protocol."""

from jaxinterest.eval.metrics import metric_names, per_user_metrics, ranking_metrics

__all__ = ["metric_names", "per_user_metrics", "ranking_metrics"]
