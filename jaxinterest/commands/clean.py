"""`jaxinterest clean`: train the noise classifier on a world's labels, or apply one to a world.

--train WORLD --out MODEL: compares the encoder classifier with the hashed n-gram baseline on
held-out splits of the labelled events (random; text-disjoint, where no held-out text occurs in
training; optionally leave-one-noise-kind-out), each with a threshold chosen on a validation
part of its training side; then trains the chosen kind on the `train`-split users' events,
saves it and prints the JSON report (also written to MODEL/report.json).
--apply MODEL --world WORLD --out OUT: writes OUT/keep.parquet (event_id, user_id, keep,
p_keep) and OUT/report.json (kept share per domain).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clean",
        help="train / apply the behaviour noise classifier (paper section 4.2)",
        description=(
            "Noise cleaning. Train: `clean --train WORLD_DIR --out MODEL_DIR [--model encoder]` "
            "compares the encoder classifier with the hashed n-gram baseline (P/R/F1) on "
            "held-out splits (--splits), then fits the chosen kind on training users' labelled "
            "events and saves it. Apply: `clean --apply "
            "MODEL_DIR --world WORLD_DIR --out OUT_DIR` writes a keep mask over the events."
        ),
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--train", metavar="WORLD_DIR", help="world whose labels to train on")
    mode.add_argument("--apply", metavar="MODEL_DIR", help="trained classifier to apply")
    p.add_argument("--world", metavar="WORLD_DIR", help="world to clean (with --apply)")
    p.add_argument("--out", required=True, help="MODEL_DIR (train) or OUT_DIR (apply)")
    p.add_argument(
        "--model",
        choices=("encoder", "ngram"),
        default="encoder",
        help="kind to train and save; encoder also trains the n-gram baseline",
    )
    p.add_argument(
        "--max-train-texts",
        type=int,
        default=6000,
        help="encoder training texts: a seeded class-balanced sample of distinct texts",
    )
    p.add_argument(
        "--max-eval-events",
        type=int,
        default=5000,
        help="test (and validation) events scored per split (seeded sample; 0 = all)",
    )
    p.add_argument(
        "--splits",
        default="random,text_disjoint",
        help="held-out splits to report, comma-separated from random, text_disjoint, "
        "template_disjoint (whole noise phrasing families held out; needs the world's "
        "phrasing labels), kind_out (one fold per noise kind, ~9x the cost); 'none' skips "
        "the comparison",
    )
    p.add_argument(
        "--compare-only",
        action="store_true",
        help="only the held-out comparison: no final model is trained (OUT gets report.json)",
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out share per split")
    p.add_argument("--epochs", type=int, default=3, help="encoder fine-tuning epochs")
    p.add_argument(
        "--train-layers", type=int, default=2, help="top encoder layers fine-tuned (0 = head only)"
    )
    p.add_argument("--lr", type=float, default=3e-4, help="encoder AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    p.add_argument(
        "--class-weight",
        choices=("balanced", "none"),
        default="balanced",
        help="encoder loss weights per class (balanced: each class weighs half)",
    )
    p.add_argument(
        "--count-weight",
        choices=("log", "none"),
        default="log",
        help="weigh each distinct training text by 1 + log(its event count) (encoder and "
        "n-gram; chosen by validation F1, see docs/cleaning.md)",
    )
    p.add_argument(
        "--ngram-class-weight",
        choices=("balanced", "none"),
        default="none",
        help="n-gram baseline loss weights per class",
    )
    p.add_argument("--encoder-path", help="BERT/RoBERTa directory (default: all-MiniLM-L6-v2)")
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="Parquet (event_id, keep) labels to use instead of the world's oracle "
        "labels, e.g. from an LLM judge; may cover a subset of the events",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _labelled_data(world, labels_t, allow_missing):
    """Rendered texts, labels, text groups and kinds of the labelled events, and their rows."""
    import numpy as np

    from jaxinterest.clean import join_labels, render_behaviors
    from jaxinterest.clean.splits import group_ids
    from jaxinterest.data.columns import column

    raw = column(world.events, "text")
    ids = column(world.events, "event_id")
    for row, t in enumerate(raw):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"events row {row} (event_id {ids[row]}): field 'text' is {t!r}")
    y = join_labels(world.events, labels_t, allow_missing=allow_missing)
    kind_of = (
        dict(zip(column(labels_t, "event_id"), column(labels_t, "kind"), strict=True))
        if "kind" in labels_t.column_names
        else {}
    )
    phrasing_of = (
        dict(zip(column(labels_t, "event_id"), column(labels_t, "phrasing"), strict=True))
        if "phrasing" in labels_t.column_names
        else None
    )
    rows = np.flatnonzero(y >= 0)  # judge labels may cover a subset; the rest are counted
    data = {
        "texts": np.array(render_behaviors(world.events), dtype=object)[rows],
        "labels": y[rows],
        "groups": group_ids([raw[r] for r in rows]),
        "kinds": np.array([str(kind_of.get(ids[r], "?")) for r in rows]),
        "phrasings": None
        if phrasing_of is None
        else np.array([phrasing_of.get(ids[r]) or "" for r in rows], dtype=object),
    }
    return data, rows, int(len(y) - len(rows))


def train(args) -> dict:
    import numpy as np

    from jaxinterest.clean import (
        EncoderClfConfig,
        NgramConfig,
        save_classifier,
        train_classifier,
        user_split_mask,
    )
    from jaxinterest.clean.compare import CompareConfig, Contender, compare, fit_with_threshold
    from jaxinterest.data.io import load_noise_labels, load_world

    world = load_world(args.train)
    if args.labels:
        import pyarrow.parquet as pq

        labels_t = pq.read_table(args.labels)
    else:
        labels_t = load_noise_labels(args.train)
    data, rows, n_unlabelled = _labelled_data(world, labels_t, bool(args.labels))
    splits = () if args.splits == "none" else tuple(s.strip() for s in args.splits.split(","))
    ccfg = CompareConfig(
        splits=splits, test_fraction=args.test_fraction,
        max_eval_events=args.max_eval_events, seed=args.seed)  # fmt: skip
    enc_cfg = EncoderClfConfig(
        encoder_path=args.encoder_path, train_layers=args.train_layers,
        batch_size=args.batch_size, epochs=args.epochs, learning_rate=args.lr,
        class_weight=args.class_weight, seed=args.seed)  # fmt: skip
    ngram_cfg = NgramConfig(class_weight=args.ngram_class_weight, seed=args.seed)
    # The baseline trains on all distinct training texts (it is cheap) and, as a second
    # entry, on every training event; with the encoder it also trains on the encoder's own
    # sample, so the two meet on equal data too.
    cw = args.count_weight
    contenders = [
        Contender("ngram", "ngram", ngram_cfg, 0, "distinct", cw),
        Contender("ngram_events", "ngram", ngram_cfg, 0, "events"),
    ]
    if args.model == "encoder":
        n = args.max_train_texts
        contenders += [
            Contender("ngram_same_sample", "ngram", ngram_cfg, n, "distinct", cw),
            Contender("encoder", "encoder", enc_cfg, n, "distinct", cw),
        ]
    report = {
        "world": str(args.train),
        "labels": args.labels or "oracle/noise_labels.parquet",
        "n_labelled_events": int(len(rows)),
        "n_unlabelled_events": n_unlabelled,
        "n_distinct_texts": int(len(np.unique(data["groups"]))),
        "noise_share": float((data["labels"] == 0).mean()),
        "seed": args.seed,
        "compare_config": {k: getattr(ccfg, k) for k in ("test_fraction", "val_fraction")},
        "splits": compare(contenders, data, ccfg, train_classifier, progress=True),
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.compare_only:
        Path(args.out, "report.json").write_text(json.dumps(report, indent=2))
        return report
    # The saved model: the chosen kind on the train-split users' events only.
    is_train = user_split_mask(world.events, world.users)[rows]
    chosen = next(c for c in contenders if c.name == args.model)
    clf, info = fit_with_threshold(
        chosen, np.flatnonzero(is_train), data, ccfg, train_classifier)  # fmt: skip
    save_classifier(args.out, clf)
    report["saved"] = {"kind": args.model, "dir": str(args.out), **info}
    Path(args.out, "report.json").write_text(json.dumps(report, indent=2))
    return report


def apply(args) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jaxinterest.clean import load_classifier, render_behaviors
    from jaxinterest.data.columns import column
    from jaxinterest.data.io import load_world

    if not args.world:
        raise ValueError("--apply needs --world WORLD_DIR")
    clf = load_classifier(args.apply)
    world = load_world(args.world)
    p_keep = clf.predict_proba(render_behaviors(world.events), progress=True)
    keep = p_keep >= clf.threshold
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "event_id": world.events.column("event_id"),
            "user_id": world.events.column("user_id"),
            "keep": pa.array(keep.astype(np.int8)),
            "p_keep": pa.array(p_keep.astype(np.float32)),
        }
    )
    pq.write_table(table, out / "keep.parquet")
    domains = np.array(column(world.events, "domain"))
    report = {
        "model": str(args.apply), "kind": clf.kind, "world": str(args.world),
        "n_events": int(len(keep)), "kept_share": float(keep.mean()) if len(keep) else None,
        "kept_share_by_domain": {
            d: float(keep[domains == d].mean()) for d in sorted(set(domains.tolist()))},
        "keep_file": str(out / "keep.parquet"),
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def run(args: argparse.Namespace) -> int:
    report = train(args) if args.train else apply(args)
    print(json.dumps(report, indent=2))
    return 0
