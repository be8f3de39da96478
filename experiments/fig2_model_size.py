"""Figure 2: test-week Recall@10 and NDCG@10 against model size (and Recall@10 of sampled
answers, the mean over `recipe.answer_samples` answer sets, when > 0). Each model of the family is
trained with the identical recipe and budget (SFT warm start, then Dr.GRPO) for each seed; the
figure plots the mean over seeds with the standard error across seeds as error bars, on a
log-x axis of parameter counts.

Every (model, seed) cell is one `table2_main.py` run (teacher row only, on the world's cleaned
behaviours unless `world.clean=false`) under OUT/cells/, driven
by the sweep runner: a rerun skips finished cells and resumes an interrupted one, and
--set parallel=2 runs two cells at once. Writes OUT/results.json, OUT/fig2.md and OUT/fig2.png.

  python experiments/fig2_model_size.py --out checkpoints/experiments/fig2
  python experiments/fig2_model_size.py --set models=tiny-1m,tiny-5m --set seeds=0,1,2
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from jaxinterest.experiments import recipe as R  # noqa: E402
from jaxinterest.experiments import script, tables  # noqa: E402
from jaxinterest.experiments.plots import publish  # noqa: E402

TABLE2 = Path(__file__).resolve().parent / "table2_main.py"
METRICS = ("recall@10", "ndcg@10")
SAMPLED = "sampled_recall@10"  # all users' Recall@10 of the row's sampled answers


@dataclasses.dataclass(frozen=True)
class Fig2Config:
    """models: tiny-family presets or local HF checkpoint directories (recipe.model is
    replaced by each); seeds: one cell per model and seed; parallel: cells at once."""

    # pick the cells (each its own run directory) and where the figure goes, never what a cell
    # computes: a rerun into the same directory may change them
    SELECTORS: ClassVar[tuple[str, ...]] = ("models", "seeds", "parallel", "publish")

    world: R.WorldSpec = R.WorldSpec()
    recipe: R.Recipe = R.Recipe()
    models: tuple[str, ...] = ("tiny-1m", "tiny-2m", "tiny-5m", "tiny-10m", "tiny-21m")
    seeds: tuple[int, ...] = (0, 1)
    parallel: int = 1
    publish: str = ""  # a directory to copy fig2.png into, e.g. docs/figures
    # the sweep's cell directories ("" = OUT/cells); runs that name one directory share their
    # finished cells, e.g. a first run of the seed-0 cells that other scripts start from
    cells: str = ""

    def __post_init__(self):
        if not self.models or not self.seeds:
            raise ValueError("models and seeds must not be empty")
        if self.parallel < 1:
            raise ValueError(f"parallel must be >= 1, got {self.parallel}")


def count_params(model: str) -> int:
    """Parameters of a preset (its exact count) or of an HF checkpoint (its tensors)."""
    from jaxinterest.models import qwen2

    if R.is_preset(model):
        return int(qwen2.get_preset(model).num_params)
    from safetensors import safe_open

    total = 0
    for f in sorted(Path(model).glob("*.safetensors")):
        with safe_open(str(f), "np") as st:
            total += sum(int(np.prod(st.get_slice(k).get_shape())) for k in st.keys())
    if not total:
        raise FileNotFoundError(f"{model}: no preset of that name and no *.safetensors in it")
    return total


def mean_stderr(values: list[float]) -> tuple[float, float | None]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None)


def body(cfg: Fig2Config, out, manifest, progress):
    from jaxinterest.config import to_dict
    from jaxinterest.experiments.sweep import cell_name, run_sweep

    with manifest.stage("world"):
        wdir = R.ensure_world(cfg.world, progress)
    with manifest.stage("clean"):  # once here, not in every cell (they find it cached)
        R.ensure_clean(cfg.world, wdir, out, progress)
    cells = Path(cfg.cells) if cfg.cells else out / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    base = {"world": to_dict(dataclasses.replace(cfg.world, path=str(wdir))),
            "rows": ["teacher"], "teacher": to_dict(cfg.recipe)}  # fmt: skip
    (cells / "base.json").write_text(json.dumps(base, indent=2) + "\n")
    with manifest.stage("cells"):
        status = run_sweep(TABLE2, cells, {"teacher.model": list(cfg.models)}, seeds=cfg.seeds,
                           seed_key="seed", extra=["--config", str(cells / "base.json")],
                           parallel=cfg.parallel, quiet=not progress, log=print)  # fmt: skip
    bad = [n for n, s in status.items() if s != "finished"]
    if bad:
        raise RuntimeError(f"cells did not finish: {bad} (logs in {cells}/CELL.log)")
    points, metrics = {}, METRICS + (SAMPLED,) * (cfg.recipe.answer_samples > 0)
    for model in cfg.models:
        per_seed = {}
        for seed in cfg.seeds:
            cell = cells / cell_name({"teacher.model": model, "seed": str(seed)})
            row = json.loads((cell / "results.json").read_text())["metrics"]["rows"]["teacher"]
            per_seed[str(seed)] = {m: row["all"][m] for m in METRICS}
            if SAMPLED in metrics:
                per_seed[str(seed)][SAMPLED] = row["sampled"]["all"]["recall@10"]
        agg = {m: mean_stderr([r[m] for r in per_seed.values()]) for m in metrics}
        points[model] = {"params": count_params(model), "seeds": per_seed,
                         **{m: agg[m][0] for m in metrics},
                         **{f"stderr_{m}": agg[m][1] for m in metrics}}  # fmt: skip
    write_figure(points, out / "fig2.png", metrics)
    publish(out / "fig2.png", cfg.publish)
    rows = [[m, p["params"], *[f"{tables.fmt(p[k])} ± {tables.fmt(p['stderr_' + k])}"
             for k in metrics]] for m, p in points.items()]  # fmt: skip
    header = ["model", "parameters", "R@10", "N@10", "R@10 sampled"][: 2 + len(metrics)]
    md = tables.markdown(header, rows,
                         f"Figure 2 on world `{wdir}`: mean ± standard error over seeds "
                         f"{list(cfg.seeds)}; ![fig2](fig2.png)")  # fmt: skip
    (out / "fig2.md").write_text(md)
    return {"points": points}, ["fig2.md", "fig2.png"]


def write_figure(points: dict, path: Path, metrics=METRICS) -> None:
    from jaxinterest.experiments.plots import line_plot

    models = list(points)
    x = [points[m]["params"] for m in models]
    label = {**tables.SHORT, SAMPLED: "R@10 sampled"}
    series = {
        label[m]: (
            [points[k][m] for k in models],
            [points[k][f"stderr_{m}"] for k in models],
        )
        for m in metrics
    }
    line_plot(path, x, series, xlabel="parameters", ylabel="test week", logx=True,
              title="Model size (mean ± s.e. over seeds)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(script.main(__file__, Fig2Config, body, __doc__.split("\n\n")[0]))
