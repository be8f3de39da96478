"""`jaxinterest reproduce RUN_DIR`: rerun an experiment from its manifest, report what differs."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="rerun an experiment run directory from its manifest and compare the metrics",
        description=(
            "Reads RUN_DIR/manifest.json, reruns its script with RUN_DIR/config.json into a "
            "fresh directory (RUN_DIR-reproduce by default) and reports every metric of "
            "results.json that differs: bit for bit by default (same machine), or within "
            "--tolerance (across machines). Exit status 1 when anything differs."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished experiment run directory")
    p.add_argument("--out", metavar="DIR", help="directory of the rerun (must not hold a run)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="relative tolerance |a-b| <= t*max(1,|a|,|b|) (default 0: bitwise)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a config field for the rerun, e.g. --set seed=1 (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--verbose", action="store_true", help="show the rerun's own output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.experiments.reproduce import reproduce, summary_lines

    report = reproduce(args.run_dir, out=args.out, overrides=args.set,
                       tolerance=args.tolerance, quiet=not args.verbose)  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print("\n".join(summary_lines(report)))
    return 0 if report["identical"] else 1
