"""PNG figures of experiment results (matplotlib, headless Agg backend)."""

from __future__ import annotations

import shutil
from pathlib import Path


def line_plot(path, x, series: dict, *, xlabel: str, ylabel: str, title: str = "",
              logx: bool = False, xticks=None) -> Path:  # fmt: skip
    """series: {label: (means, stderrs or None)} over the shared x values; error bars where
    stderrs are given. Writes `path` (PNG) and returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    for label, (means, errs) in series.items():
        xs = [a for a, m in zip(x, means, strict=True) if m is not None]
        ys = [m for m in means if m is not None]
        es = None if errs is None else [e or 0.0 for e, m in zip(errs, means, strict=True)
                                        if m is not None]  # fmt: skip
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
    if logx:
        ax.set_xscale("log")
    if xticks is not None:
        ax.minorticks_off()  # a log axis would add its own minor labels between ours
        ax.set_xticks(list(x))
        ax.set_xticklabels(list(xticks))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version string: same data, same bytes
    plt.close(fig)
    return path


def publish(path, dest: str) -> Path | None:
    """Copies a written figure into `dest` (e.g. docs/figures, where the repository keeps the
    images docs/results.md shows); nothing when dest is empty."""
    if not dest:
        return None
    target = Path(dest) / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target
