"""`jaxinterest clean`: train the noise classifier on a world's labels, or apply one to a world.

--train WORLD --out MODEL: trains on the events of `train`-split users, scores precision/recall/
F1 on a seeded sample of `valid`-split users' events, for the encoder classifier and the n-gram
baseline on the SAME held-out events, saves the chosen kind and prints a JSON report.
--apply MODEL --world WORLD --out OUT: writes OUT/keep.parquet (event_id, user_id, keep,
p_keep) and OUT/report.json (kept share per domain).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clean",
        help="train / apply the behaviour noise classifier (paper section 4.2)",
        description=(
            "Noise cleaning. Train: `clean --train WORLD_DIR --out MODEL_DIR [--model encoder]` "
            "fits the classifier on training users' labelled events and reports P/R/F1 on "
            "held-out users' events for it and the hashed n-gram baseline. Apply: `clean --apply "
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
        "--max-train-events",
        type=int,
        default=4000,
        help="encoder training sample (seeded; 0 = all training events)",
    )
    p.add_argument(
        "--max-ngram-train-events",
        type=int,
        default=0,
        help="n-gram training sample (0 = all training events)",
    )
    p.add_argument(
        "--max-eval-events",
        type=int,
        default=5000,
        help="held-out sample scored by both classifiers (0 = all)",
    )
    p.add_argument("--epochs", type=int, default=1, help="encoder fine-tuning epochs")
    p.add_argument(
        "--train-layers", type=int, default=1, help="top encoder layers fine-tuned (0 = head only)"
    )
    p.add_argument("--lr", type=float, default=3e-4, help="encoder AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    p.add_argument("--encoder-path", help="BERT/RoBERTa directory (default: all-MiniLM-L6-v2)")
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="Parquet (event_id, keep) labels to use instead of the world's oracle "
        "labels, e.g. from an LLM judge; may cover a subset of the events",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _sample(rows, n, rng):
    import numpy as np

    return rows if not n or len(rows) <= n else np.sort(rng.choice(rows, n, replace=False))


def _score(clf, texts, y, kinds):
    """P/R/F1 of keep (the paper's y=1) and of noise, accuracy per event kind, timing."""
    import numpy as np

    from jaxinterest.clean import precision_recall_f1

    t0 = time.perf_counter()
    pred = clf.predict(texts, progress=True)
    seconds = time.perf_counter() - t0
    by_kind = {}
    for k in sorted(set(kinds)):
        m = np.array([x == k for x in kinds])
        by_kind[k] = {"n": int(m.sum()), "accuracy": float((pred[m] == y[m]).mean())}
    return {
        "keep": precision_recall_f1(y, pred, positive=1),
        "noise": precision_recall_f1(y, pred, positive=0),
        "by_kind": by_kind,
        "predict_events_per_s": round(len(texts) / max(seconds, 1e-9), 1),
    }


def train(args) -> dict:
    import numpy as np

    from jaxinterest.clean import (
        EncoderClfConfig,
        join_labels,
        render_behaviors,
        save_classifier,
        train_classifier,
        user_split_mask,
    )
    from jaxinterest.clean.events import column
    from jaxinterest.data.io import load_noise_labels, load_world

    world = load_world(args.train)
    if args.labels:
        import pyarrow.parquet as pq

        labels_t = pq.read_table(args.labels)
    else:
        labels_t = load_noise_labels(args.train)
    texts = np.array(render_behaviors(world.events), dtype=object)
    y = join_labels(world.events, labels_t, allow_missing=bool(args.labels))
    kind_of = (
        dict(zip(column(labels_t, "event_id"), column(labels_t, "kind"), strict=True))
        if "kind" in labels_t.column_names
        else {}
    )
    kinds = [kind_of.get(e, "?") for e in column(world.events, "event_id")]
    is_train = user_split_mask(world.events, world.users)
    rng = np.random.default_rng(args.seed)
    labelled = y >= 0  # judge labels may cover a subset; unlabelled rows are counted, not used
    train_rows = np.flatnonzero(is_train & labelled)
    eval_rows = np.flatnonzero(~is_train & labelled)
    eval_rows = _sample(eval_rows, args.max_eval_events, rng)
    if not len(train_rows) or not len(eval_rows):
        raise ValueError(f"{args.train}: need labelled events of both train and valid users")
    ev_texts, ev_y, ev_kinds = list(texts[eval_rows]), y[eval_rows], [kinds[i] for i in eval_rows]
    report = {
        "world": str(args.train),
        "labels": args.labels or "oracle/noise_labels.parquet",
        "n_unlabelled_events": int((~labelled).sum()),
        "n_eval_events": int(len(eval_rows)),
        "eval_keep_share": float(ev_y.mean()),
        "seed": args.seed,
    }
    # Runs: (report key, kind, training rows). With the encoder, the n-gram baseline is also
    # trained on the encoder's own sample, so the two are compared on equal data too.
    enc_rows = _sample(train_rows, args.max_train_events, rng)
    runs = [("ngram", "ngram", _sample(train_rows, args.max_ngram_train_events, rng))]
    if args.model == "encoder":
        runs += [("ngram_same_sample", "ngram", enc_rows), ("encoder", "encoder", enc_rows)]
    enc_cfg = EncoderClfConfig(
        encoder_path=args.encoder_path, train_layers=args.train_layers,
        batch_size=args.batch_size, epochs=args.epochs, learning_rate=args.lr,
        seed=args.seed)  # fmt: skip
    trained = {}
    for name, kind, rows in runs:
        t0 = time.perf_counter()
        clf, log = train_classifier(
            kind, list(texts[rows]), y[rows], enc_cfg if kind == "encoder" else None,
            progress=True)  # fmt: skip
        seconds = time.perf_counter() - t0
        trained[name] = clf
        report[name] = {
            "n_train_events": int(len(rows)),
            "train_seconds": round(seconds, 1),
            **log,
            **_score(clf, ev_texts, ev_y, ev_kinds),
        }
    save_classifier(args.out, trained[args.model])
    report["saved"] = {"kind": args.model, "dir": str(args.out)}
    Path(args.out, "report.json").write_text(json.dumps(report, indent=2))
    return report


def apply(args) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jaxinterest.clean import load_classifier, render_behaviors
    from jaxinterest.clean.events import column
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
