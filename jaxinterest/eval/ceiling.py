"""The instrument's range on a world: reference recommenders and the oracle ceiling, side by side.

`measure_range(world)` evaluates popularity, another user's searches, the user's own searches,
their recent behaviours of every domain and the two oracle diagnostics (`eval/oracle.py`) on one
test-week index, and returns the metrics per cohort plus the ratios a comparison on this world
has to be read against (oracle / own searches, own searches / popularity). `jaxinterest world
--report DIR` writes it into DIR/report.json next to what the generator measured.

DIAGNOSTIC ONLY: the oracle rows read the latent interests.
"""

from __future__ import annotations

from jaxinterest.eval.oracle import NOTICE, ORACLE_RECOMMENDERS, oracle_queries
from jaxinterest.eval.recommend import EvalConfig, build_test_index, evaluate_queries
from jaxinterest.eval.reference import reference_queries

RANGE_ROWS = (
    "popularity",
    "shuffled-searches",
    "own-searches",
    "recent-behaviours",
    "oracle-any",
    "oracle-interests",
)
METRICS = ("recall@5", "recall@10", "ndcg@10", "mrr")


def queries_for(world, name: str, n: int = 10, seed: int = 0) -> dict[str, list[str]]:
    """Queries of a reference recommender or an oracle diagnostic."""
    if name in ORACLE_RECOMMENDERS:
        return oracle_queries(world, name, n)
    return reference_queries(world, name, n, seed=seed)


def measure_range(world, cfg: EvalConfig | None = None, rows=RANGE_ROWS, *, n=10, progress=False):
    """{"rows": {name: {cohort: {metric: value, "stderr_recall@10": ...}}}, "ratios_recall@10":
    ..., "notice": ...}; n queries per user for every row."""
    cfg = cfg or EvalConfig()
    index = build_test_index(world, cfg, progress=progress)
    out = {}
    for name in rows:
        report, _ = evaluate_queries(world, queries_for(world, name, n), cfg, index=index)
        out[name] = {
            cohort: {m: round(report[cohort][m], 4) for m in METRICS}
            | {"stderr_recall@10": round(report[cohort]["stderr"]["recall@10"], 4)}
            for cohort in ("all", "warm", "cold")
        }
    r10 = {name: out[name]["all"]["recall@10"] for name in out}
    ratios = {}
    if {"oracle-interests", "own-searches"} <= set(r10):
        ratios["oracle_interests_over_own_searches"] = _ratio(
            r10["oracle-interests"], r10["own-searches"]
        )
    if {"own-searches", "popularity"} <= set(r10):
        ratios["own_searches_over_popularity"] = _ratio(r10["own-searches"], r10["popularity"])
    if {"oracle-interests", "oracle-any"} <= set(r10):
        ratios["drift_cost_recall@10"] = round(r10["oracle-interests"] - r10["oracle-any"], 4)
    return {"notice": NOTICE, "config": {"n_queries": n, "k": cfg.k}, "rows": out} | {
        "ratios_recall@10": ratios
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def markdown_table(rng: dict, cohorts=("all", "warm", "cold")) -> str:
    """The range as a markdown table: one row per recommender, R@5 R@10 N@10 MRR per cohort."""
    head = ["recommender"] + [f"{c} {m}" for c in cohorts for m in ("R@5", "R@10", "N@10", "MRR")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rng["rows"].items():
        cells = [f"{row[c][m]:.3f}" for c in cohorts for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
