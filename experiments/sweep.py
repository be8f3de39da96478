"""Sweep any experiment script over config fields: one run directory per cell, finished cells
skipped, interrupted ones resumed, optionally several cells at once.

  python experiments/sweep.py experiments/table5_rewards.py --out checkpoints/sweeps/t5 \
      --sweep recipe.model=tiny-1m,tiny-5m --seeds 0,1 --seed-key recipe.seed --parallel 2 \
      -- --set world.preset=tiny

Everything after `--` goes to every cell unchanged. Rerun the same command after a kill: only
the cells that did not finish run again (OUT/sweep_log.jsonl says which ran and which were
skipped). Layout and rules: `jaxinterest.experiments.sweep`.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxinterest.experiments.sweep import parse_sweep, run_sweep  # noqa: E402


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(prog="sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("script", help="an experiment script, e.g. experiments/fig2_model_size.py")
    p.add_argument("--out", required=True, metavar="DIR", help="sweep directory (one per cell)")
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config field and its values (repeatable: the cells are the product)",
    )
    p.add_argument("--seeds", default="", help="seeds, e.g. 0,1,2 (set through --seed-key)")
    p.add_argument("--seed-key", default="seed", help="the config field the seeds go to")
    p.add_argument("--parallel", type=int, default=1, help="cells run at once (processes)")
    p.add_argument("--verbose", action="store_true", help="progress bars in the cell logs")
    args = p.parse_args(argv)
    if not os.path.isfile(args.script):
        p.error(f"script {args.script} does not exist")
    try:
        sweep = parse_sweep(args.sweep)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as err:
        p.error(str(err))
    status = run_sweep(args.script, args.out, sweep, seeds=seeds, seed_key=args.seed_key,
                       extra=extra, parallel=args.parallel, quiet=not args.verbose)  # fmt: skip
    bad = [n for n, s in status.items() if s != "finished"]
    print(f"sweep: {len(status) - len(bad)}/{len(status)} cells finished" +
          (f"; unfinished: {', '.join(bad)}" if bad else ""))  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
