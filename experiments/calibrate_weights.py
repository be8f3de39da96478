"""Calibrate the reward weights lambda_m (eq. 9) against held-out retrieval, within users.

A policy samples S lists per user on a validation window (the last `--days` days of the
training window, `train.validation.holdout_world`; the test week is never read). Each list
gets its five normalised signals (the composite reward's inputs) and its Recall@10 against the
user's clicks in that window. Dr.GRPO compares lists of one user, so the report
(`rewards.weight_fit`) is within-user: each signal's mean correlation with Recall@10 over a
user's samples, the within-user least-squares coefficients, and the composite's correlation
under candidate weights (every signal 1, and coverage at each `--cov-grid` value). Prints one
JSON object (and writes it to --out).

    python experiments/calibrate_weights.py --policy runs/sft/policy --world-preset tiny \
        --samples 8 --out runs/weights.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", required=True, help="a policy directory, preset:NAME or smollm2")
    ap.add_argument("--world", default="", help="a world directory (default: generate a preset)")
    ap.add_argument("--world-preset", default="tiny")
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--world-cache", default="checkpoints/worlds")
    ap.add_argument("--keep-file", default=None, help="clean --apply output (default: raw)")
    ap.add_argument("--samples", type=int, default=8, help="lists per user (S)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=7, help="validation window (days)")
    ap.add_argument("--split", default="", help="users of this split only (default: all)")
    ap.add_argument("--max-users", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cov-grid", default="1,2,4,8,16")
    ap.add_argument("--work", default="runs/calibrate_weights", help="samples + caches")
    ap.add_argument("--out", default="", help="also write the JSON report here")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.io import load_world
    from jaxinterest.eval import EvalConfig, build_test_index
    from jaxinterest.experiments import recipe as R
    from jaxinterest.rewards import SIGNALS, RewardConfig, build_rewards
    from jaxinterest.rewards.weight_fit import weight_report
    from jaxinterest.train import best_of_n_run as bon
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import policy_prompt
    from jaxinterest.train.validation import holdout_world

    if args.samples < 2:
        raise SystemExit("--samples must be >= 2: one list per user has no within-user order")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    spec = R.WorldSpec(path=args.world, preset=args.world_preset, seed=args.world_seed,
                       cache=args.world_cache)  # fmt: skip
    world = holdout_world(load_world(R.ensure_world(spec)), args.days, split=args.split or None)
    clean_fn = KeepLookup(pq.read_table(args.keep_file)) if args.keep_file else None
    policy = load_policy(args.policy, seed=args.seed, cache_dir=work)
    stored = policy_prompt(args.policy) if Path(args.policy).is_dir() else None
    prompt = stored or R.Recipe().resolve().prompt  # the prompt the policy was trained on
    cfg = bon.BestOfNConfig(samples=args.samples, ns=(1,), temperature=args.temperature,
                            prompt=prompt, seed=args.seed)  # fmt: skip
    users = R.pick_users(world, args.max_users, args.seed)
    samples = bon.sample_lists(policy, world, users, cfg, out=work / "samples.jsonl",
                               clean_fn=clean_fn, progress=True)  # fmt: skip
    model = build_rewards(world, RewardConfig(), clean_fn=clean_fn, tokenizer=policy.tokenizer,
                          prompt_cfg=prompt, cache_dir=work / "rewards_cache",
                          progress=True)  # fmt: skip
    _, metrics, order = bon.score_lists(world, samples, model, cfg, EvalConfig(),
                                        index=build_test_index(world, EvalConfig()),
                                        progress=True)  # fmt: skip
    texts = [t for u in order for t in samples[u]]
    owners = [u for u in order for _ in samples[u]]
    norm = model.score(owners, texts).norm
    signals = {s: norm[s].reshape(len(order), args.samples) for s in SIGNALS}
    grid = [float(v) for v in args.cov_grid.split(",") if v]
    candidates = {"even": dict.fromkeys(SIGNALS, 1.0)}
    candidates |= {f"cov={v:g}": dict.fromkeys(SIGNALS, 1.0) | {"cov": v} for v in grid}
    candidates["cov_only"] = {"cov": 1.0}
    report = weight_report(signals, metrics["recall@10"], candidates)
    report["setup"] = vars(args) | {"users": len(order), "holdout": world.meta["holdout"]}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
