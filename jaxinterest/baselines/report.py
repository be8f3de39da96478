"""Markdown tables in the layout of the paper's Table 2 (R@5 R@10 N@5 N@10 MRR), one for all
users and one for cold users, each value with its standard error over users."""

from __future__ import annotations

COLUMNS = (("R@5", "recall@5"), ("R@10", "recall@10"), ("N@5", "ndcg@5"), ("N@10", "ndcg@10"),
           ("MRR", "mrr"))  # fmt: skip


def _num(x) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}".replace("0.", ".", 1) if x < 1 else f"{x:.3f}"


def _cell(cohort: dict, key: str) -> str:
    v, se = cohort.get(key), (cohort.get("stderr") or {}).get(key)
    return _num(v) if se is None else f"{_num(v)} ± {_num(se)}"


def table(rows: list[tuple[str, dict]], cohort: str) -> str:
    """rows: (method title, evaluation report) pairs; cohort: 'all', 'warm' or 'cold'."""
    n = {r[cohort]["n_users"] for _, r in rows} if rows else set()
    users = f"{n.pop():,} users" if len(n) == 1 else "users"
    head = f"| method ({cohort}, {users}) | " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    for title, report in rows:
        lines.append(
            f"| {title} | " + " | ".join(_cell(report[cohort], k) for _, k in COLUMNS) + " |"
        )
    return "\n".join(lines)


def markdown(rows: list[tuple[str, dict]], header: str = "") -> str:
    """Both tables (all users, then cold users) with an optional header paragraph."""
    parts = [header] if header else []
    parts += [table(rows, "all"), table(rows, "cold")]
    return "\n\n".join(parts) + "\n"
