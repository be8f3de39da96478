"""The judges of R_cov and R_spec behind one interface: `judge.score(batch) -> JudgeScores`.

`RubricJudge` (the default) is offline and deterministic: themes by clustering the user's
behaviour embeddings (`themes.py`), coverage by embedding similarity (`signals.coverage`),
specificity from the lexicon and corpus IDF (`specificity.py`). `LLMJudge` (`llm_judge.py`)
sends the Appendix A prompt to an HTTP server and falls back to the rubric per item.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from jaxinterest.rewards.config import RubricConfig
from jaxinterest.rewards.signals import theme_coverage
from jaxinterest.rewards.specificity import TermStats, specific


@dataclass(frozen=True)
class JudgeBatch:
    """B query lists to judge (valid outputs only).

    queries: [B] tuples of query strings; qvecs: [B] float32 [n_b, D] unit query embeddings;
    themes: [B] the user's rubric Themes; contexts: [B] the user's behaviours as the prompt
    shows them (UserView.context()).
    """

    queries: tuple
    qvecs: tuple
    themes: tuple
    contexts: tuple

    def __len__(self) -> int:
        return len(self.queries)


@dataclass(frozen=True)
class JudgeScores:
    """spec, cov: float32 [B]; source: [B] "rubric" | "llm" | "rubric_fallback"; details: [B]
    dicts (spec_per_query, themes, covered); fallbacks: reason -> count."""

    spec: np.ndarray
    cov: np.ndarray
    source: tuple
    details: tuple
    fallbacks: Counter = field(default_factory=Counter)


class RubricJudge:
    name = "rubric"

    def __init__(self, stats: TermStats, cfg: RubricConfig | None = None):
        self.stats, self.cfg = stats, cfg or RubricConfig()

    def score(self, batch: JudgeBatch) -> JudgeScores:
        flat = [q for qs in batch.queries for q in qs]
        w = specific(flat, self.stats, self.cfg.spec_min_df, self.cfg.spec_min_idf)
        spec, cov, details, start = [], [], [], 0
        for qs, qv, th in zip(batch.queries, batch.qvecs, batch.themes, strict=True):
            wq = w[start : start + len(qs)]
            start += len(qs)
            covered = theme_coverage(qv, th.centroids, self.cfg.cov_threshold)
            spec.append(float(wq.mean()) if len(qs) else 0.0)
            cov.append(float(covered.mean()) if len(th) else 0.0)
            details.append({
                "spec_per_query": [int(x) for x in wq],
                "themes": list(th.labels),
                "covered": [int(c) for c in covered],
            })  # fmt: skip
        n = len(batch)
        return JudgeScores(
            np.asarray(spec, np.float32).reshape(n),
            np.asarray(cov, np.float32).reshape(n),
            ("rubric",) * n,
            tuple(details),
        )
