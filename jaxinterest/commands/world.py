"""`jaxinterest world`: generate a synthetic cross-domain world directory."""

from __future__ import annotations

import dataclasses
import json
import time

from jaxinterest.data.world import PRESETS, WorldConfig, generate_world, make_config

# knobs exposed as flags: (flag, WorldConfig field, type, help)
_KNOBS = (
    ("--users", "n_users", int, "number of users"),
    ("--news", "n_news", int, "number of news articles"),
    ("--noise-rate", "noise_rate", float, "share of raw search/browse events that are noise"),
    ("--cold-fraction", "cold_fraction", float, "share of users generated with few clicks"),
    ("--drift", "drift", float, "share of interests that fade or emerge (interest drift)"),
    ("--entities-per-category", "entities_per_category", int, "named entities per category"),
    ("--typo-rate", "typo_rate", float, "probability of a typo per query word group"),
    ("--test-clicks-mean", "test_clicks_mean", float, "mean test-week clicks per user"),
    (
        "--chunk-users",
        "chunk_users",
        int,
        "users generated per chunk (memory vs speed; a different value gives different data)",
    ),
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "world",
        help="generate a synthetic world (news, events, users, test clicks, oracle labels)",
        description="Generate a deterministic synthetic world: same preset, knobs and seed give "
        "byte-identical files (layout: docs/data.md; what the generator measures on itself goes "
        "to OUT/report.json, docs/world.md). --report measures the instrument's range on a world: "
        "popularity, own searches, recent behaviours and the oracle ceiling (diagnostic: reads "
        "the latent interests) on one test-week index, written into report.json.",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="tiny",
        help="tiny (tests), small (quickstart) or paper (Table 1 scale)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", help="output directory of a new world")
    p.add_argument(
        "--report",
        nargs="?",
        const=True,
        metavar="DIR",
        help="measure the evaluation range (reference recommenders + oracle ceiling) of world "
        "DIR, or of the world just generated with --out, into its report.json (about a minute "
        "on the small preset)",
    )
    p.add_argument("--quiet", "--no-progress", action="store_true", help="no progress bar")
    for flag, field, typ, text in _KNOBS:
        default = getattr(WorldConfig(), field)
        p.add_argument(
            flag,
            dest=field,
            type=typ,
            default=None,
            help=f"{text} (default: preset value; base {default})",
        )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="override any WorldConfig knob, e.g. --set hard_noise_rate=0.4 (repeatable)",
    )
    p.set_defaults(func=run)


def _parse_sets(items: list[str]) -> dict:
    types = {f.name: f.type for f in dataclasses.fields(WorldConfig)}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types or key in ("preset", "seed"):
            raise ValueError(
                f"--set {item!r}: expected KNOB=VALUE with KNOB one of "
                f"{sorted(k for k in types if k not in ('preset', 'seed'))} (--seed sets the seed)"
            )
        cast = {"int": int, "float": float, "str": str}[str(types[key])]
        try:
            out[key] = cast(value)
        except ValueError as err:
            raise ValueError(f"--set {item!r}: {err}") from err
    return out


def run(args) -> int:
    if not args.out and args.report in (None, True):
        raise ValueError("nothing to do: give --out DIR to generate or --report DIR to measure")
    if args.report not in (None, True) and args.out:
        raise ValueError("give either --out (with an optional bare --report) or --report DIR")
    if args.out:
        generate(args)
    if args.report is not None:
        report_range(args.out if args.report is True else args.report)
    return 0


def report_range(path) -> None:
    from jaxinterest.data.io import load_world
    from jaxinterest.data.world_report import write_report
    from jaxinterest.eval.ceiling import markdown_table, measure_range

    t0 = time.perf_counter()
    world = load_world(path)
    rng = measure_range(world, progress=True)
    rng["seconds"] = round(time.perf_counter() - t0, 1)
    write_report(path, {"range": rng})
    print(f"world range ({rng['notice']}):")
    print(markdown_table(rng))
    print(json.dumps(rng["ratios_recall@10"]))
    print(f"written to {path}/report.json")


def generate(args) -> None:
    knobs = {field: getattr(args, field) for _, field, _, _ in _KNOBS}
    knobs.update(_parse_sets(args.set))
    cfg = make_config(args.preset, seed=args.seed, **knobs)
    print(
        f"world: preset={cfg.preset} seed={cfg.seed} users={cfg.n_users} news={cfg.n_news}"
        f" -> {args.out}",
        flush=True,
    )
    t0 = time.perf_counter()
    meta = generate_world(cfg, args.out, progress=not args.quiet)
    counts = meta["counts"]
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - t0, 2),
                **{
                    k: counts[k]
                    for k in (
                        "users",
                        "news",
                        "events",
                        "test_clicks",
                        "mean_browse",
                        "mean_search",
                        "mean_clicks",
                        "cold_users",
                        "noise_share",
                    )
                },
            }
        )
    )
