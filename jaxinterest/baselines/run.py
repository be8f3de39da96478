"""Train and evaluate baselines on a world, with the reference rows, into a run directory.

    RUN/embeddings/           MiniLM vectors of every text read (features.py cache)
    RUN/models/NAME/          config.json, params/ (Orbax), report.json
    RUN/baselines.json        every row's evaluation report, timings and configs
    RUN/table.md              Table 2 layout, all users and cold users, with standard errors

A model whose report.json matches the requested configuration (model, training, evaluation,
world metadata, noise-cleaning mask) is not retrained or re-evaluated; one whose checkpoint
matches is only re-evaluated. A directory holding another configuration is refused unless
`force`. Popularity and own-searches rows come from `eval.reference` through
`evaluate_queries`, on the MiniLM index of the same test-week articles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxinterest.baselines import data as D
from jaxinterest.baselines.checkpoint import load_params, read_json, save_params, write_json
from jaxinterest.baselines.config import TrainConfig, fingerprint, to_json
from jaxinterest.baselines.evaluate import evaluate_model, text_index
from jaxinterest.baselines.features import embed_table
from jaxinterest.baselines.registry import TITLES, make_config, module
from jaxinterest.baselines.report import markdown
from jaxinterest.baselines.train import fit
from jaxinterest.data.columns import column
from jaxinterest.eval.recommend import EvalConfig, article_texts, evaluate_queries
from jaxinterest.eval.reference import reference_queries

REFERENCES = (
    ("popularity", "Popularity (most-clicked titles)"),
    ("own-searches", "Own recent searches"),
)


def _inputs(world, cfgs, keep, ecfg, references, encoder, cache, progress):
    """Events per domain set, the text table and news row -> title row [N_news]."""
    events = {c.domains: D.user_events(world, c.domains, keep) for c in cfgs.values()}
    titles = column(world.news, "title")
    items = np.union1d(D.clicked_items(world), D.test_items(world))
    texts = {titles[i] for i in items}
    for ev in events.values():
        texts.update(ev.text)
    refs = {}
    if references:
        test_texts = article_texts(world.news, ecfg.article_text)
        texts.update(test_texts[i] for i in D.test_items(world))
        for name, _ in REFERENCES:
            refs[name] = reference_queries(world, name, 10, keep)
            texts.update(q for qs in refs[name].values() for q in qs)
    table = embed_table(sorted(texts), cache, model=encoder, progress=progress)
    item_text = np.zeros(len(titles), np.int32)
    item_text[items] = table.rows([titles[i] for i in items])
    return events, table, item_text, refs


class _Shared(NamedTuple):
    """What every model of a run shares."""

    world: object
    table: object  # features.TextTable
    item_text: np.ndarray  # int32 [N_news] TextTable row of each article's title
    tcfg: TrainConfig
    ecfg: EvalConfig
    fp_parts: tuple  # world and cleaning fingerprints
    force: bool
    progress: bool


def _run_model(name: str, cfg, ev, mdir: Path, sh: _Shared) -> dict:
    """Train (or restore) and evaluate one model in mdir; returns its report + status."""
    model, world, table = module(name), sh.world, sh.table
    fp = fingerprint(to_json(cfg), to_json(sh.tcfg), dataclasses.asdict(sh.ecfg), *sh.fp_parts)
    saved, report = read_json(mdir / "config.json"), read_json(mdir / "report.json")
    if saved and saved["fingerprint"] != fp and not sh.force:
        raise ValueError(
            f"{mdir} holds a {name} run with another configuration (world, model, training, "
            "evaluation or cleaning); pass --force to replace it or use another --out"
        )
    if not sh.force and saved and report and report.get("fingerprint") == fp:
        return report | {"status": "cached"}
    t0, c0 = time.perf_counter(), time.process_time()
    start, n_users = int(world.meta["train_start"]), world.users.num_rows
    streams = D.to_streams(ev, table.rows(ev.text), n_users, start, cfg.max_len)
    if not sh.force and saved and (mdir / "params").is_dir():
        like = model.init(cfg, _key(sh.tcfg.seed), table.dim)
        params, log, status = load_params(mdir / "params", like), saved["train"], "restored"
    else:
        valid, _ = D.user_split(world)
        catalogue = D.clicked_items(world)
        params, log = fit(model, cfg, sh.tcfg, streams, valid, catalogue, table.vectors,
                          sh.item_text, progress=sh.progress)  # fmt: skip
        mdir.mkdir(parents=True, exist_ok=True)
        save_params(mdir / "params", params)
        meta = {"fingerprint": fp, "model": to_json(cfg), "train_config": to_json(sh.tcfg)}
        write_json(mdir / "config.json", meta | {"train": log})
        status = "trained"
    t1, c1 = time.perf_counter(), time.process_time()
    report, _ = evaluate_model(name, model, params, cfg, world, streams, table, sh.item_text,
                               sh.ecfg, sh.progress)  # fmt: skip
    # CPU seconds (all threads of this process) beside wall seconds: on a shared machine the
    # wall time measures the load, the CPU time the work.
    seconds = {
        "train": round(t1 - t0, 2),
        "evaluate": round(time.perf_counter() - t1, 2),
        "train_cpu": round(c1 - c0, 2),
        "evaluate_cpu": round(time.process_time() - c1, 2),
    }
    report = {"fingerprint": fp, "model": to_json(cfg), "train": log, **report,
              "model_seconds": seconds}  # fmt: skip
    write_json(mdir / "report.json", report)
    return report | {"status": status}


def _key(seed):
    import jax

    return jax.random.key(seed)


def run_baselines(
    world,
    out,
    names,
    *,
    tcfg: TrainConfig | None = None,
    ecfg: EvalConfig | None = None,
    overrides: dict | None = None,
    keep=None,
    cleaned_by: str | None = None,
    references: bool = True,
    force: bool = False,
    encoder=None,
    embed_cache: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Train + evaluate `names` on a loaded world into directory `out`; returns the summary
    written to out/baselines.json. overrides: {name: {config field: value}}; embed_cache: the
    embedding cache directory (default out/embeddings; runs on one world may share one)."""
    t0, c0 = time.perf_counter(), time.process_time()
    tcfg, ecfg = tcfg or TrainConfig(), ecfg or EvalConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfgs = {n: make_config(n, **(overrides or {}).get(n, {})) for n in names}
    events, table, item_text, refs = _inputs(
        world, cfgs, keep, ecfg, references, encoder, embed_cache or out / "embeddings", progress
    )
    t_embed, c_embed = time.perf_counter() - t0, time.process_time() - c0
    keep_fp = (
        hashlib.sha256(np.packbits(np.asarray(keep, bool)).tobytes()).hexdigest()[:16]
        if keep is not None
        else None
    )
    fp_parts = ({"world_meta": world.meta}, {"keep": keep_fp})
    sh = _Shared(world, table, item_text, tcfg, ecfg, fp_parts, force, progress)
    rows = {}
    for name, cfg in cfgs.items():
        rows[name] = _run_model(name, cfg, events[cfg.domains], out / "models" / name, sh)
    t_ref, c_ref = time.perf_counter(), time.process_time()
    if references:
        index = text_index(world, table, ecfg)
        for name, _ in REFERENCES:
            rows[name], _ = evaluate_queries(
                world, refs[name], ecfg, index=index, embedder=table.lookup
            )
    titled = [(t, rows[n]) for n, t in REFERENCES if n in rows]
    titled += [(TITLES[n], rows[n]) for n in names]
    summary = {
        "world": str(world.path),
        "world_meta": {k: world.meta.get(k) for k in ("preset", "seed", "counts")},
        "cleaned_by": cleaned_by,
        "eval_config": dataclasses.asdict(ecfg),
        "train_config": to_json(tcfg),
        "rows": rows,
        "seconds": {
            "embed": round(t_embed, 2),
            "references": round(time.perf_counter() - t_ref, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
        "cpu_seconds": {
            "embed": round(c_embed, 2),
            "references": round(time.process_time() - c_ref, 2),
            "total": round(time.process_time() - c0, 2),
        },
    }
    write_json(out / "baselines.json", summary)
    header = f"Baselines on `{world.path}` (seed {world.meta.get('seed')}), K = {ecfg.k}."
    (out / "table.md").write_text(markdown(titled, header))
    return summary
