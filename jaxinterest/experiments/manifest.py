"""The run manifest: what a result was computed from, written into every experiment run directory.

RUN/manifest.json holds
  script       the experiment script, relative to the repository root (what `reproduce` reruns)
  argv         the command line as given
  config       the resolved config (also RUN/config.json, which a rerun reads with --config)
  seeds        every config field whose name ends in "seed", by dotted key
  environment  git commit + dirty flag, package versions, Python, platform, JAX device kind/count
  stages       wall seconds per stage of the last attempt (a resumed stage counts only its rest)
  attempts     start time, end time and outcome of every attempt on this directory
  status       "running" while an attempt is alive, then "finished" or "failed"; a killed run
               stays "running", which is how `sweep` tells an interrupted cell from a done one

The manifest is rewritten atomically (temp file + rename) at every change, so a kill leaves the
previous complete version.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MANIFEST = "manifest.json"
RESULTS = "results.json"
# Distributions whose versions decide a result (missing ones are recorded as None).
PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "grain",
    "numpy",
    "faiss-cpu",
    "transformers",
    "tokenizers",
    "safetensors",
    "pyarrow",
    "matplotlib",
    "jaxinterest",
)


def repo_root() -> Path:
    """The checkout holding this package (experiment scripts live in its experiments/)."""
    return Path(__file__).resolve().parents[2]


def git_state(root: Path | None = None) -> dict:
    """{"commit", "dirty", "diff_sha256"}: HEAD, whether tracked files differ from it, and a
    hash of that difference (two dirty runs of different code differ in it); None values when
    git or the repository is absent."""
    root = root or repo_root()

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        diff = git("diff", "HEAD", "--no-ext-diff", "--binary")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "diff_sha256": None}
    digest = hashlib.sha256(diff.encode()).hexdigest() if diff else None
    return {"commit": commit, "dirty": bool(diff), "diff_sha256": digest}


def package_versions(names=PACKAGES) -> dict:
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def devices() -> dict:
    import jax

    devs = jax.devices()
    return {
        "backend": jax.default_backend(),
        "kind": devs[0].device_kind if devs else None,
        "count": len(devs),
        "process_count": jax.process_count(),
    }


def environment() -> dict:
    return {
        "git": git_state(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": devices(),
    }


def seeds_of(config: dict, prefix: str = "") -> dict:
    """{dotted key: value} of every field named *seed in a nested config dict."""
    out = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= seeds_of(v, key + ".")
        elif k.endswith("seed"):
            out[key] = v
    return out


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_json(path: Path, data) -> None:
    """Atomic: a reader (or a kill) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_manifest(run_dir) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {MANIFEST} (not an experiment run directory)")
    return json.loads(path.read_text())


def run_status(run_dir) -> str:
    """ "new" (no manifest), "running" (alive or killed), "finished" or "failed"."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return "new"
    try:
        return json.loads(path.read_text()).get("status", "running")
    except json.JSONDecodeError:
        return "running"


class Manifest:
    """The manifest of one attempt on a run directory (module docstring)."""

    def __init__(self, run_dir, *, script: str, argv: list[str], config: dict):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / MANIFEST
        attempts = []
        if self.path.is_file():
            try:
                attempts = json.loads(self.path.read_text()).get("attempts", [])
            except json.JSONDecodeError:
                attempts = []
        self.data = {
            "script": script,
            "argv": list(argv),
            "config": config,
            "seeds": seeds_of(config),
            "environment": environment(),
            "stages": {},
            "attempts": [*attempts, {"started": _now(), "ended": None, "outcome": "running"}],
            "status": "running",
        }
        self.write()

    def write(self) -> None:
        write_json(self.path, self.data)

    @contextlib.contextmanager
    def stage(self, name: str):
        """Times the block as stage `name` (wall seconds) and records it when it ends."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.data["stages"][name] = round(time.perf_counter() - t0, 3)
            self.write()

    def end(self, outcome: str) -> None:
        self.data["status"] = outcome
        self.data["attempts"][-1] |= {"ended": _now(), "outcome": outcome}
        self.data["wall_seconds"] = round(sum(self.data["stages"].values()), 3)
        self.write()


def script_path(file: str) -> str:
    """A script's path relative to the repository root (absolute when it lies outside)."""
    path = Path(file).resolve()
    try:
        return str(path.relative_to(repo_root()))
    except ValueError:
        return str(path)


def command_line() -> list[str]:
    return list(sys.argv)
