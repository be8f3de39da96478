"""A sweep over config fields: one run directory per cell, finished cells skipped, interrupted
cells resumed, cells optionally run as parallel processes.

  run_sweep("experiments/fig2_model_size.py", "runs/size",
            {"recipe.model": ["tiny-1m", "tiny-5m"]}, seeds=[0, 1], seed_key="recipe.seed")

Cells are the cartesian product of the swept values (and the seeds, set through `seed_key`).
Each cell runs the script as its own process, `SCRIPT --out OUT/CELL --set KEY=VALUE ...`, with
CELL = "key=value,..." (a value's "/" written as "_"). A cell is skipped when its manifest says
"finished" and it finished this very command: the command (script, cell, extra arguments) and
the contents of every `--config` file it names, hashed into OUT/CELL/sweep_cell.json. Any other
cell (new, killed mid-run, failed, or finished under another command) is run: the script's
stages resume from what a killed attempt left, and the script refuses a directory that holds a
run of another config (the cell then reads "failed" and its log says why). OUT/sweep.json
lists the cells and their status after every change; OUT/sweep_log.jsonl gets one line per
cell per invocation ("ran" with the exit code and wall seconds, or "skipped").
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jaxinterest.experiments.manifest import run_status, write_json

STAMP = "sweep_cell.json"  # in a cell's directory: the fingerprint of the command it finished


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


def command_fingerprint(cmd: list[str]) -> str:
    """sha256 of a cell command without its interpreter and --quiet, and of the contents of
    every --config file it names (a file edited in place changes the fingerprint)."""
    args = [a for a in cmd[1:] if a != "--quiet"]
    files = [Path(f).read_text() if Path(f).is_file() else None
             for a, f in zip(args, args[1:], strict=False) if a == "--config"]  # fmt: skip
    return hashlib.sha256(json.dumps([args, files]).encode()).hexdigest()


def finished_same(run_dir: Path, fingerprint: str) -> bool:
    """The cell's run finished, under the command with this fingerprint."""
    stamp = run_dir / STAMP
    if run_status(run_dir) != "finished" or not stamp.is_file():
        return False
    return json.loads(stamp.read_text()).get("fingerprint") == fingerprint


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
            ok = entry.get("returncode", 0) == 0
            status[entry["cell"]] = run_status(out / entry["cell"]) if ok else "failed"
            with (out / "sweep_log.jsonl").open("a") as f:
                f.write(json.dumps(entry) + "\n")
            write_json(out / "sweep.json", {"script": str(script), "sweep": sweep,
                                            "seeds": list(seeds), "cells": status})  # fmt: skip

    def one(cell: dict) -> None:
        name = cell_name(cell)
        cmd = cell_command(script, out, cell, extra, quiet)
        fingerprint = command_fingerprint(cmd)
        if finished_same(out / name, fingerprint):
            record({"cell": name, "action": "skipped"})
            log(f"sweep: {name} finished before, skipped")
            return
        log(f"sweep: {name} running")
        t0 = time.perf_counter()
        logfile = out / f"{name}.log"
        with logfile.open("a") as f:
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
        if code == 0 and run_status(out / name) == "finished":
            write_json(out / name / STAMP, {"fingerprint": fingerprint, "command": cmd[1:]})
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
