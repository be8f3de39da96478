"""`jaxinterest best-of-n`: inference-time compute as a scaling axis (paper Fig. 3).

For each user the policy samples --samples query lists once; every N of --ns is evaluated from
those same samples (`train.best_of_n`: the expected kept sample over all N-subsets, or the best
of the first N with --method prefix), keeping the list with the highest composite reward
(computed from the user's behaviours only) and scoring it on the test week (or, with
--eval-on holdout, on the validation users' held-out last days). Output directory:

  config.json      the settings (a rerun with other settings into the same --out is refused)
  samples.jsonl    one line per user: the S answer texts (appended as it goes; rerun resumes)
  best_of_n.json   per cohort (all / warm / cold): reward and metrics of the kept list per N,
                   each with its standard error and user count
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

METRICS = ("recall@10", "ndcg@10", "mrr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "best-of-n",
        help="sample N query lists per user, keep the best by composite reward, evaluate",
        description=(
            "Samples --samples query lists per user with the policy, scores each with the "
            "composite reward (behaviours only) and the retrieval metrics, and reports the "
            "kept list's reward and Recall/NDCG/MRR for each N, with standard errors. "
            "Resumable: rerun with the same --out."
        ),
    )
    p.add_argument("--world", required=True, help="world directory")
    p.add_argument(
        "--policy", required=True,
        help="checkpoint directory (e.g. from `jaxinterest grpo`), 'preset:NAME' or 'smollm2'",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (resumed)")
    p.add_argument("--samples", type=int, default=32, help="lists sampled per user (S)")
    p.add_argument("--ns", default="1,2,4,8,16,32", help="N values, each <= --samples")
    p.add_argument("--method", choices=("expected", "prefix"), default="expected")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="sampling seed (per-user keys)")
    p.add_argument("--batch-size", type=int, default=8, help="users per sampler call")
    p.add_argument(
        "--eval-on",
        choices=("test", "holdout"),
        default="test",
        help="test week (default) or the validation users' last training days",
    )
    p.add_argument("--holdout-days", type=int, default=7, help="with --eval-on holdout")
    p.add_argument("--max-users", type=int, default=0, help="evaluate a seeded subset (0 = all)")
    p.add_argument("--n-queries", type=int, default=5, help="queries asked for per user")
    p.add_argument("--max-prompt-tokens", type=int, default=1024)
    clean = p.add_mutually_exclusive_group()
    clean.add_argument("--clean-model", metavar="DIR", help="noise classifier (clean --train)")
    clean.add_argument("--keep-file", metavar="FILE", help="keep.parquet from clean --apply")
    p.add_argument("--cache-dir", metavar="DIR", help="reward model's article embedding cache")
    p.add_argument("--no-progress", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _ns(spec: str) -> tuple[int, ...]:
    try:
        ns = tuple(int(x) for x in spec.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--ns {spec!r}: expected comma-separated integers") from None
    if not ns:
        raise ValueError("--ns is empty")
    return ns


def clean_fn(args):
    """The prompt's cleaning hook from --clean-model / --keep-file (None: keep every event)."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup, load_classifier, make_clean_fn

    if args.clean_model:
        return make_clean_fn(load_classifier(args.clean_model))
    if args.keep_file:
        if not Path(args.keep_file).is_file():
            raise FileNotFoundError(f"--keep-file {args.keep_file}: no such file")
        return KeepLookup(pq.read_table(args.keep_file))
    return None


def _users(world, args) -> list[str]:
    import numpy as np

    from jaxinterest.data.columns import column

    users = list(column(world.users, "user_id"))
    if args.max_users and args.max_users < len(users):
        pick = np.random.default_rng(args.seed).choice(len(users), args.max_users, replace=False)
        users = [users[i] for i in sorted(pick)]
    return users


def _check_config(out: Path, settings: dict) -> None:
    path = out / "config.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings:
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ValueError(f"{out} was written with other settings ({', '.join(diff)}); "
                             "use another --out")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def table(rep: dict, cohort: str = "all") -> str:
    """Markdown: N, reward and the main metrics of the kept list (mean ± stderr)."""
    cols = ["reward", *METRICS]
    lines = ["| N | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for n in rep["ns"]:
        cells = []
        for c in cols:
            v = rep[cohort][c][str(n)]
            cells.append(
                "n/a" if v["mean"] is None else f"{v['mean']:.4f} ± {v['stderr'] or 0:.4f}"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from jaxinterest.data.io import load_world
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.eval import EvalConfig
    from jaxinterest.rewards import RewardConfig, build_rewards
    from jaxinterest.train import best_of_n_run as run_bon
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.validation import holdout_world

    prompt = PromptConfig(n_queries=args.n_queries, max_prompt_tokens=args.max_prompt_tokens)
    cfg = run_bon.BestOfNConfig(
        samples=args.samples, ns=_ns(args.ns), method=args.method, temperature=args.temperature,
        top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed,
        batch_size=args.batch_size, prompt=prompt,
    )  # fmt: skip
    if args.batch_size < 1 or args.max_users < 0:
        raise ValueError("--batch-size must be >= 1 and --max-users >= 0")
    out = Path(args.out)
    settings = dataclasses.asdict(cfg) | {
        "policy": args.policy, "world": str(Path(args.world).resolve()), "eval_on": args.eval_on,
        "holdout_days": args.holdout_days, "max_users": args.max_users,
        "clean": args.clean_model or args.keep_file,
    }  # fmt: skip
    settings = json.loads(json.dumps(settings))  # tuples as lists, as read back
    world = load_world(args.world)
    if args.eval_on == "holdout":
        world = holdout_world(world, args.holdout_days)
    _check_config(out, settings)
    policy = load_policy(args.policy, seed=args.seed)
    clean = clean_fn(args)
    users = _users(world, args)
    progress = not args.no_progress
    samples = run_bon.sample_lists(policy, world, users, cfg, out=out / "samples.jsonl",
                                   clean_fn=clean, progress=progress)  # fmt: skip
    reward_model = build_rewards(
        world, RewardConfig(n_queries=prompt.n_queries), clean_fn=clean,
        tokenizer=policy.tokenizer, prompt_cfg=prompt, cache_dir=args.cache_dir,
        progress=progress,
    )  # fmt: skip
    rewards, metrics, order = run_bon.score_lists(world, samples, reward_model, cfg, EvalConfig(),
                                                  progress=progress)  # fmt: skip
    rep = run_bon.report(world, order, rewards, metrics, cfg)
    (out / "best_of_n.json").write_text(json.dumps(rep, indent=2) + "\n")
    print(table(rep))
    print(f"best-of-n: {len(users)} users x {cfg.samples} samples -> {out / 'best_of_n.json'}")
    return 0
