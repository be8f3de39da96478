"""Rerun an experiment from its manifest and report every metric that differs.

`reproduce(run_dir)` reads RUN/manifest.json, runs the same script with RUN/config.json as its
config (plus any `overrides`, e.g. "seed=1" to see what a knob changes) into a fresh directory,
then compares the "metrics" trees of the two results.json files leaf by leaf:

- tolerance 0 (same machine): numbers must be equal bit for bit (float ==), strings equal;
- tolerance t > 0 (across machines): |a - b| <= t * max(1, |a|, |b|).

Environment differences (git commit, dirty flag, package versions, devices) are reported beside
the metric differences, since they are the usual cause of a difference across machines.

The rerun computes every row itself. A run may have taken rows from other runs' directories
(`reuse`: finished GRPO runs and distillations linked instead of trained; Figure 2's `cells`: a
shared cell directory whose finished cells are skipped); a rerun that did the same would only
read the original's results back. So the rerun's `reuse` is empty and its `cells` its own,
unless `overrides` set them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from jaxinterest.experiments.manifest import RESULTS, read_manifest, repo_root, run_status


def flatten(tree, prefix: str = "") -> dict:
    """{"a.b.c": leaf} of a nested dict / list (list items by index)."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return {prefix: tree}
    out = {}
    for k, v in items:
        out |= flatten(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def same(a, b, tolerance: float) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):  # a flag equals only the same flag
        return type(a) is type(b) and a == b
    if not (isinstance(a, numbers) and isinstance(b, numbers)):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if tolerance == 0:
        return a == b
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def compare_metrics(before: dict, after: dict, tolerance: float = 0.0) -> dict:
    """{"compared": n, "differences": [{key, original, rerun, abs_diff}], "only_original": [...],
    "only_rerun": [...]} over the flattened metric trees."""
    a, b = flatten(before), flatten(after)
    diffs = []
    for key in sorted(a.keys() & b.keys()):
        if not same(a[key], b[key], tolerance):
            d = {"key": key, "original": a[key], "rerun": b[key]}
            if isinstance(a[key], int | float) and isinstance(b[key], int | float):
                d["abs_diff"] = abs(a[key] - b[key])
            diffs.append(d)
    return {
        "compared": len(a.keys() & b.keys()),
        "differences": diffs,
        "only_original": sorted(a.keys() - b.keys()),
        "only_rerun": sorted(b.keys() - a.keys()),
    }


def compare_environments(before: dict, after: dict) -> dict:
    """{key: [original, rerun]} of the environment fields that differ (platform text aside)."""
    a, b = flatten(before), flatten(after)
    return {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def load_results(run_dir) -> dict:
    path = Path(run_dir) / RESULTS
    if run_status(run_dir) != "finished" or not path.is_file():
        raise ValueError(f"{run_dir}: the run has not finished (no {RESULTS} of a finished run)")
    return json.loads(path.read_text())


def fresh_dir(run_dir: Path) -> Path:
    """RUN-reproduce, RUN-reproduce2, ...: the first that does not exist."""
    n = 1
    while True:
        cand = run_dir.with_name(f"{run_dir.name}-reproduce{'' if n == 1 else n}")
        if not cand.exists():
            return cand
        n += 1


def script_file(manifest: dict) -> Path:
    path = Path(manifest["script"])
    if not path.is_absolute():
        path = repo_root() / path
    if not path.is_file():
        raise FileNotFoundError(f"the manifest's script {manifest['script']} is not in {path}")
    return path


# config fields that point a run at other runs' results, and the value that makes the rerun
# compute them itself (module docstring)
LINKS = {"reuse": "[]", "cells": '""'}


def unlinked(config: dict, overrides) -> list[str]:
    """The overrides plus, for each LINKS field of `config` that is set and not overridden, the
    override that clears it."""
    given = {o.split("=", 1)[0].strip() for o in overrides}
    extra = [f"{k}={v}" for k, v in LINKS.items() if config.get(k) and k not in given]
    return [*overrides, *extra]


def reproduce(run_dir, *, out=None, overrides=(), tolerance: float = 0.0, quiet: bool = True,
              timeout: float | None = None) -> dict:  # fmt: skip
    """Reruns RUN's script from its manifest into `out` (default: a fresh sibling directory)
    and compares; returns the report (also written to OUT/reproduce.json)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    original = load_results(run_dir)
    out = Path(out) if out else fresh_dir(run_dir)
    if (out / "config.json").exists() and out.resolve() != run_dir.resolve():
        raise ValueError(f"{out} already holds a run: reproduce needs a fresh directory")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    cmd = [sys.executable, str(script_file(manifest)), "--config", str(run_dir / "config.json"),
           "--out", str(out)]  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    cmd += [a for item in unlinked(config, overrides) for a in ("--set", item)]
    if quiet:
        cmd.append("--quiet")
    proc = subprocess.run(cmd, capture_output=quiet, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or "")[-2000:] if quiet else ""
        raise RuntimeError(f"the rerun failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    rerun = load_results(out)
    report = {
        "original": str(run_dir),
        "rerun": str(out),
        "command": cmd,
        "overrides": list(overrides),
        "tolerance": tolerance,
        **compare_metrics(original["metrics"], rerun["metrics"], tolerance),
        "environment_changes": compare_environments(
            manifest["environment"], read_manifest(out)["environment"]
        ),
    }
    report["identical"] = not (
        report["differences"] or report["only_original"] or report["only_rerun"]
    )
    (out / "reproduce.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def summary_lines(report: dict) -> list[str]:
    """Human-readable lines: one per differing metric, then the verdict."""
    lines = []
    for d in report["differences"]:
        lines.append(f"DIFFERS {d['key']}: {d['original']!r} -> {d['rerun']!r}")
    for k in report["only_original"]:
        lines.append(f"MISSING in rerun: {k}")
    for k in report["only_rerun"]:
        lines.append(f"NEW in rerun: {k}")
    for k, (a, b) in report["environment_changes"].items():
        lines.append(f"environment {k}: {a!r} -> {b!r}")
    how = "bitwise" if report["tolerance"] == 0 else f"within {report['tolerance']}"
    n = len(report["differences"]) + len(report["only_original"]) + len(report["only_rerun"])
    verdict = "reproduced" if report["identical"] else f"{n} metric(s) differ"
    lines.append(f"{verdict}: {report['compared']} metrics compared {how} ({report['rerun']})")
    return lines
