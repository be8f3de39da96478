"""Normalise each signal, weight it by lambda_m, sum: the composite R (paper eq. 9).

Default "fixed": raw [lo, hi] -> [0, 1], clipped, with the documented ranges of RewardConfig.
Why fixed and not a batch statistic: Dr.GRPO's advantage is r_g - mean_group(r), deliberately
without a std division, so the reward's scale is the learning signal and should not change with
which other users share the batch; a fixed map also makes a list's score a property of the list
alone, so the `rewards` command gives the same value for a line whatever file it sits in, and
best-of-N selection and logged reward curves are comparable across iterations. "batch" is the
alternative: z-score of each signal over the scored rows (invalid rows included at their
floors), with a std floor so a signal constant over the batch contributes 0 rather than noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jaxinterest.rewards.config import SIGNALS, RewardConfig


@dataclass(frozen=True)
class Rewards:
    """Rewards of N outputs. raw / norm: signal -> float32 [N]; total float32 [N] =
    sum_m weight_m * norm[m]; valid bool [N] (R_struct); reasons: [N] parse verdicts;
    queries: [N] tuples of parsed queries (empty when invalid); judge: [N] "rubric", "llm" or
    "rubric_fallback" (who scored cov and spec; "floor" for invalid outputs); details: [N]
    dicts (themes, covered, spec_per_query) for reports; info: batch counters and timings."""

    raw: dict
    norm: dict
    total: np.ndarray
    valid: np.ndarray
    reasons: tuple
    queries: tuple
    judge: tuple
    details: tuple = ()
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.total)

    def row(self, i: int) -> dict:
        """Row i as a JSON-ready dict."""
        out = {
            "valid": bool(self.valid[i]),
            "reason": self.reasons[i],
            "queries": list(self.queries[i]),
            "raw": {s: float(self.raw[s][i]) for s in SIGNALS},
            "norm": {s: float(self.norm[s][i]) for s in SIGNALS},
            "total": float(self.total[i]),
            "judge": self.judge[i],
        }
        if self.details:
            out["details"] = self.details[i]
        return out


def normalise(raw: dict, cfg: RewardConfig) -> dict:
    """signal -> float32 [N] normalised values (see the module docstring)."""
    out = {}
    for s in SIGNALS:
        x = np.asarray(raw[s], np.float64)
        if cfg.normalise == "fixed":
            lo, hi = cfg.range(s)
            y = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        else:
            std = x.std() if len(x) else 0.0
            y = (x - x.mean()) / max(std, cfg.batch_std_floor) if len(x) else x
            if std < cfg.batch_std_floor:
                y = np.zeros_like(x)
        out[s] = y.astype(np.float32)
    return out


def total(norm: dict, cfg: RewardConfig) -> np.ndarray:
    """sum_m weight_m * norm[m], float32 [N]; signals with weight 0 are left out."""
    n = len(next(iter(norm.values())))
    out = np.zeros(n, np.float64)
    for s in SIGNALS:
        w = cfg.weight(s)
        if w:
            out += w * np.asarray(norm[s], np.float64)
    return out.astype(np.float32)
