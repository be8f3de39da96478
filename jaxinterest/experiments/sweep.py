"""A sweep over config fields: one run directory per cell, finished cells skipped, interrupted
cells resumed, cells optionally run as parallel processes.

  run_sweep("experiments/fig2_model_size.py", "runs/size",
            {"recipe.model": ["tiny-1m", "tiny-5m"]}, seeds=[0, 1], seed_key="recipe.seed")

Cells are the cartesian product of the swept values (and the seeds, set through `seed_key`).
Each cell runs the script as its own process, `SCRIPT --out OUT/CELL --set KEY=VALUE ...`, with
CELL = "key=value,..." (a value's "/" written as "_"). A cell whose manifest says "finished" is
skipped; any other cell (new, killed mid-run, failed) is run, and the script's stages resume
from what the killed attempt left. OUT/sweep.json lists the cells and their status after every
change; OUT/sweep_log.jsonl gets one line per cell per invocation ("ran" with the exit code and
wall seconds, or "skipped").
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jaxinterest.experiments.manifest import run_status, write_json


def parse_sweep(items) -> dict[str, list[str]]:
    """["model=tiny-1m,tiny-5m", "grpo.steps=10,20"] -> {"model": [...], "grpo.steps": [...]}."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key.strip() or not vals:
            raise ValueError(f"--sweep {item!r}: expected KEY=V1,V2,...")
        if key.strip() in out:
            raise ValueError(f"--sweep {item!r}: {key.strip()} is swept twice")
        out[key.strip()] = vals
    return out


def cells(sweep: dict[str, list], seeds=(), seed_key: str = "seed") -> list[dict[str, str]]:
    """The cartesian product, in order: first key slowest, seeds fastest."""
    axes = dict(sweep)
    if seeds:
        if seed_key in axes:
            raise ValueError(f"{seed_key} is both swept and given as --seeds")
        axes[seed_key] = [str(s) for s in seeds]
    if not axes:
        raise ValueError("nothing to sweep: give --sweep KEY=V1,V2 and/or --seeds")
    keys = list(axes)
    combos = itertools.product(*axes.values())
    return [dict(zip(keys, map(str, combo), strict=True)) for combo in combos]


def cell_name(cell: dict[str, str]) -> str:
    return ",".join(f"{k}={v.replace('/', '_')}" for k, v in cell.items())


def cell_command(script, out: Path, cell: dict, extra=(), quiet: bool = True) -> list[str]:
    cmd = [sys.executable, str(script), "--out", str(out / cell_name(cell))]
    cmd += [a for k, v in cell.items() for a in ("--set", f"{k}={v}")]
    cmd += list(extra)
    return cmd + (["--quiet"] if quiet else [])


def run_sweep(script, out, sweep: dict, *, seeds=(), seed_key: str = "seed", extra=(),
              parallel: int = 1, quiet: bool = True, log=print) -> dict:  # fmt: skip
    """Runs every unfinished cell (module docstring); returns {cell name: status}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = cells(sweep, seeds, seed_key)
    names = [cell_name(c) for c in todo]
    lock = threading.Lock()
    status = {n: run_status(out / n) for n in names}

    def record(entry: dict) -> None:
        with lock:
            status[entry["cell"]] = run_status(out / entry["cell"])
            with (out / "sweep_log.jsonl").open("a") as f:
                f.write(json.dumps(entry) + "\n")
            write_json(out / "sweep.json", {"script": str(script), "sweep": sweep,
                                            "seeds": list(seeds), "cells": status})  # fmt: skip

    def one(cell: dict) -> None:
        name = cell_name(cell)
        if run_status(out / name) == "finished":
            record({"cell": name, "action": "skipped"})
            log(f"sweep: {name} finished before, skipped")
            return
        log(f"sweep: {name} running")
        t0 = time.perf_counter()
        logfile = out / f"{name}.log"
        with logfile.open("a") as f:
            code = subprocess.run(cell_command(script, out, cell, extra, quiet),
                                  stdout=f, stderr=subprocess.STDOUT).returncode  # fmt: skip
        seconds = round(time.perf_counter() - t0, 2)
        record({"cell": name, "action": "ran", "returncode": code, "seconds": seconds})
        log(f"sweep: {name} exit {code} after {seconds} s (log {logfile})")

    if parallel <= 1:
        for cell in todo:
            one(cell)
    else:
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(one, todo))
    return dict(status)


def finished_cells(out, sweep: dict, seeds=(), seed_key: str = "seed") -> list[tuple[dict, Path]]:
    """(cell, run directory) of the finished cells, in sweep order."""
    out = Path(out)
    return [
        (c, out / cell_name(c))
        for c in cells(sweep, seeds, seed_key)
        if run_status(out / cell_name(c)) == "finished"
    ]
