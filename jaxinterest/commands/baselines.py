"""`jaxinterest baselines`: train and evaluate the paper's five baselines on a world.

Writes RUN/baselines.json (every row's report, all / warm / cold users, standard errors) and
RUN/table.md (the paper's Table 2 layout) plus one directory per model (config.json, Orbax
params/, report.json); a rerun skips models already finished with the same configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baselines",
        help="train + evaluate GRU, SASRec, NRHUB, PinSage, HSTU (Table 2 layout)",
        description=(
            "Trains the baselines on next-click prediction over the training window (articles "
            "as MiniLM title vectors through a learned item tower, early stopping on validation "
            "users), then ranks the test-week articles for every user with the same protocol "
            "as `jaxinterest evaluate`. Popularity and own-searches rows are added."
        ),
    )
    p.add_argument("--world", required=True, help="world directory")
    p.add_argument("--out", required=True, help="run directory (created; reruns resume)")
    p.add_argument(
        "--models",
        default="all",
        help="'all' or a comma list of: gru,sasrec,nrhub,pinsage,hstu (default all)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help="override a model config field, e.g. hstu.domains=search,browse,click or "
        "sasrec.n_layers=3 (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="init and batch seed (default 0)")
    p.add_argument("--max-steps", type=int, help="training steps cap per model (default 1000)")
    p.add_argument("--batch-users", type=int, help="users per training step (default 32)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    clean = p.add_mutually_exclusive_group()
    clean.add_argument(
        "--clean-model",
        metavar="MODEL_DIR",
        help="noise classifier applied to every event before the models read it",
    )
    clean.add_argument(
        "--keep-file",
        metavar="FILE",
        help="keep.parquet from `clean --apply`, used like --clean-model",
    )
    p.add_argument(
        "--no-references", action="store_true", help="skip the popularity and own-searches rows"
    )
    p.add_argument(
        "--embed-cache",
        metavar="DIR",
        help="text-embedding cache (default RUN/embeddings; runs on one world may share it)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="retrain models whose directory holds another configuration",
    )
    p.add_argument("--k", type=int, default=10, help="ranked list length per user")
    p.add_argument("--per-query-k", type=int, default=10, help="articles retrieved per vector")
    p.add_argument("--index-kind", default="flat", help="flat (exact) | hnsw | ivf | ivfpq")
    p.set_defaults(func=run)


def parse_sets(items: list[str], names: list[str]) -> dict[str, dict]:
    """['hstu.n_layers=3', ...] -> {'hstu': {'n_layers': 3}}, typed like the config field."""
    from jaxinterest.baselines.registry import MODELS

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--set {item!r}: expected MODEL.FIELD=VALUE")
        if name not in names:
            raise ValueError(f"--set {item!r}: model {name!r} is not in --models")
        fields = {f.name: f for f in dataclasses.fields(MODELS[name][1])}
        if field not in fields or field == "name":
            raise ValueError(
                f"--set {item!r}: {name} has no field {field!r}; "
                f"fields: {sorted(set(fields) - {'name'})}"
            )
        default = getattr(MODELS[name][1](), field)
        try:
            if isinstance(default, tuple):
                typed = tuple(v.strip() for v in value.split(",") if v.strip())
            else:
                typed = type(default)(value)
        except ValueError as err:
            raise ValueError(
                f"--set {item!r}: {value!r} is not a {type(default).__name__}"
            ) from err
        out.setdefault(name, {})[field] = typed
    return out


def keep_mask(args, world):
    """bool [N events] from --clean-model (every event classified) or --keep-file, or None."""
    import numpy as np
    import pyarrow.parquet as pq

    from jaxinterest.clean import filter_events, load_classifier
    from jaxinterest.data.columns import column

    if args.clean_model:
        return filter_events(world.events, load_classifier(args.clean_model), progress=True)
    if args.keep_file:
        t = pq.read_table(args.keep_file)
        by_id = dict(zip(column(t, "event_id"), column(t, "keep"), strict=True))
        ids = column(world.events, "event_id")
        missing = [e for e in ids if e not in by_id]
        if missing:
            raise KeyError(
                f"{args.keep_file}: no keep value for event_id {missing[0]} "
                f"({len(missing)} events missing)"
            )
        return np.array([bool(by_id[e]) for e in ids])
    return None


def run(args: argparse.Namespace) -> int:
    from jaxinterest.baselines import TrainConfig, parse_models, run_baselines
    from jaxinterest.data.io import load_world
    from jaxinterest.eval.recommend import EvalConfig

    t0 = time.perf_counter()
    names = parse_models(args.models)
    overrides = parse_sets(args.set, names)
    if not Path(args.world).is_dir():
        raise FileNotFoundError(f"--world {args.world}: no such directory")
    world = load_world(args.world)
    keep = keep_mask(args, world)
    tkw = {
        "seed": args.seed,
        "max_steps": args.max_steps,
        "batch_users": args.batch_users,
        "lr": args.lr,
    }
    tcfg = TrainConfig(**{k: v for k, v in tkw.items() if v is not None})
    ecfg = EvalConfig(k=args.k, per_query_k=args.per_query_k, index_kind=args.index_kind)
    summary = run_baselines(
        world,
        args.out,
        names,
        tcfg=tcfg,
        ecfg=ecfg,
        overrides=overrides,
        keep=keep,
        cleaned_by=args.clean_model or args.keep_file,
        references=not args.no_references,
        force=args.force,
        embed_cache=args.embed_cache,
        progress=True,
    )
    print((Path(args.out) / "table.md").read_text())
    times = {n: r.get("model_seconds") for n, r in summary["rows"].items() if "model_seconds" in r}
    print(
        json.dumps(
            {
                "seconds": summary["seconds"],
                "cpu_seconds": summary["cpu_seconds"],
                "per_model": times,
                "wall": round(time.perf_counter() - t0, 1),
            }
        )
    )
    return 0
