"""What every experiment script shares: its command line, the run directory and the manifest.

An experiment script defines a frozen config dataclass and a body `(cfg, out, manifest,
progress) -> results` and ends with `sys.exit(main(__file__, Config, body, description))`.
The command line is the same for all of them:

  python experiments/NAME.py [--out DIR] [--config FILE] [--set KEY=VALUE ...] [--quiet]

The run directory gets config.json (the resolved config: a rerun reads it with --config),
manifest.json (`manifest.Manifest`) and results.json ({"experiment", "metrics", "timings",
"files"}: `reproduce` compares "metrics"; "timings" are wall-clock figures, never compared).
A rerun into the same directory with the same config resumes: each stage skips the work whose
output exists. A different config into a directory that holds one is refused, except in the
fields the config class names in its `SELECTORS` class variable: those only pick which results
are produced (Table 2's `rows`), never how one is computed, so a rerun may change them (it
reuses the rows computed before; config.json and results.json then describe the last run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxinterest.experiments.manifest import RESULTS, Manifest, script_path, write_json

DEFAULT_ROOT = "checkpoints/experiments"


def build_parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=name, description=description)
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"run directory (default {DEFAULT_ROOT}/{name}); a rerun with the same config resumes",
    )
    p.add_argument("--config", metavar="FILE", help="config fields (.toml, .yaml or .json)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set world.preset=tiny (repeatable; dots for "
        "nested keys)",
    )
    p.add_argument("--quiet", "--no-progress", action="store_true", help="no progress bars")
    return p


def check_same_config(out: Path, config: dict, selectors=()) -> None:
    """Refuses to resume a directory that holds a run of another config (naming the keys);
    differences in the top-level `selectors` fields are allowed."""
    path = out / "config.json"
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    keys = (before.keys() | config.keys()) - set(selectors)
    changed = sorted(k for k in keys if before.get(k) != config.get(k))
    if changed:
        raise ValueError(
            f"{out} holds a run with another config ({', '.join(changed)} differ): give a new --out"
        )


def run(file: str, cfg, body, *, out: Path, progress: bool) -> dict:
    """Runs `body` under a manifest in `out`; writes and returns results.json's content."""
    from jaxinterest.config import to_dict

    config = to_dict(cfg)
    out.mkdir(parents=True, exist_ok=True)
    check_same_config(out, config, getattr(type(cfg), "SELECTORS", ()))
    write_json(out / "config.json", config)
    manifest = Manifest(out, script=script_path(file), argv=sys.argv, config=config)
    try:
        metrics, files = body(cfg, out, manifest, progress)
    except BaseException:
        manifest.end("failed")
        raise
    results = {
        "experiment": Path(file).stem,
        "metrics": metrics,
        "timings": {"stages": manifest.data["stages"]},
        "files": sorted(files),
    }
    write_json(out / RESULTS, results)
    manifest.end("finished")
    return results


def main(file: str, cls, body, description: str, argv=None, resolve=None) -> int:
    """Parses the command line, resolves the config and runs the body. `resolve(cfg) -> cfg`
    fills derived fields (copied seeds, prompts) so that config.json shows what ran."""
    from jaxinterest.config import ConfigError, load_config

    name = Path(file).stem
    args = build_parser(name, description).parse_args(argv)
    try:
        cfg = load_config(cls, args.config, args.set)
        cfg = resolve(cfg) if resolve else cfg
    except ConfigError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{DEFAULT_ROOT}/{name}")
    results = run(file, cfg, body, out=out, progress=not args.quiet)
    print(json.dumps(results["metrics"], indent=2))
    print(f"{name}: results in {out}", file=sys.stderr)
    return 0
