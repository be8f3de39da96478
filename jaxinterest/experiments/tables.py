"""Markdown tables of experiment results, with the paper's numbers beside ours.

PAPER holds the figures of arXiv 2602.15005 that the scripts reproduce (shared/paper.md): a
row of ours and the paper's row of the same method sit in one table, so a reader compares
shapes (which method wins, by how much) rather than absolute values: our world, models and
budgets are a CPU-sized stand-in, not the paper's data.
"""

from __future__ import annotations

import math

# Table 2 (all users): R@5, R@10, N@5, N@10, MRR
PAPER_TABLE2 = {
    "gru": (0.144, 0.189, 0.129, 0.159, 0.117),
    "sasrec": (0.158, 0.206, 0.141, 0.173, 0.129),
    "nrhub": (0.162, 0.212, 0.145, 0.178, 0.133),
    "pinsage": (0.168, 0.220, 0.149, 0.184, 0.138),
    "hstu": (0.216, 0.250, 0.194, 0.228, 0.184),
    "teacher": (0.257, 0.271, 0.209, 0.241, 0.199),
    "student": (0.233, 0.261, 0.196, 0.235, 0.180),
}
# Table 3: R@10, N@10
PAPER_TABLE3 = {
    "teacher": (0.271, 0.241),
    "supervised": (0.245, 0.207),
    "on_policy": (0.261, 0.235),
    "none": (0.187, 0.179),
}
# Table 5: R@10, N@10
PAPER_TABLE5 = {
    "full": (0.271, 0.241),
    "no_align": (0.162, 0.141),
    "no_cov": (0.115, 0.093),
    "no_spec": (0.196, 0.184),
    "no_div": (0.179, 0.144),
    "no_struct": (0.193, 0.184),
}
# Table 6: users/s with vLLM on one A100
PAPER_TABLE6 = {"teacher": 2.0, "student": 67.0}

SHORT = {"recall@5": "R@5", "recall@10": "R@10", "ndcg@5": "N@5", "ndcg@10": "N@10", "mrr": "MRR"}


def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def markdown(header: list[str], rows: list[list], title: str = "") -> str:
    lines = [title, ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def metric_table(rows: dict, metrics, *, cohorts=("all", "cold"), paper: dict | None = None,
                 titles: dict | None = None, title: str = "",
                 sampled=("recall@10", "ndcg@10")) -> str:  # fmt: skip
    """rows: {name: {cohort: {metric: value}}} -> one line per name, metric columns per cohort
    (R@10 ± stderr where the row has one), then, when any row has a `sampled` part (the mean
    over sampled answer sets, `recipe.evaluate_policy_row`), all users' `sampled` metrics, and
    the paper's all-users figures when given."""
    titles = titles or {}
    header = ["method"]
    for c in cohorts:
        header += [f"{c} {SHORT.get(m, m)}" for m in metrics]
    sampled = sampled if any("sampled" in row for row in rows.values()) else ()
    header += [f"all {SHORT.get(m, m)} sampled" for m in sampled]
    if paper:
        header += [f"paper {SHORT.get(m, m)}" for m in metrics]

    def cell(part: dict, m: str) -> str:
        v, se = part.get(m), part.get(f"stderr_{m}")
        return f"{fmt(v)} ± {fmt(se)}" if se is not None else fmt(v)

    lines = []
    for name, row in rows.items():
        cells = [titles.get(name, name)]
        for c in cohorts:
            cells += [cell(row.get(c, {}), m) for m in metrics]
        cells += [cell(row.get("sampled", {}).get("all", {}), m) for m in sampled]
        if paper:
            p = paper.get(name)
            cells += [fmt(x) for x in p] if p else ["–"] * len(metrics)
        lines.append(cells)
    return markdown(header, lines, title)
