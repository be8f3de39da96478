"""Time `jaxinterest baselines` end to end on a world: embedding, then each model's training and
evaluation; prints one JSON object.

The issue's goal is all five trained and evaluated on the `small` world in <= 15 minutes on
2 cores. Anchor, measured in the same process: the machine's own float32 jnp matmul rate; each
model's training is also given as achieved GFLOP/s (XLA's cost analysis of one train step x
steps / training seconds) and as a fraction of that rate. Wall times move with the machine's
load (the 1-minute load average is printed at start and end); a cold embedding cache is used
unless --embed-cache points at a filled one.

Usage: python bench/baselines.py [--world DIR | --preset small --seed 0] [--models all]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, machine  # noqa: E402


def matmul_gflops(n: int = 1024, repeat: int = 20) -> tuple[float, float]:
    """(GFLOP per wall second, GFLOP per CPU second) of a float32 n x n matmul."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        f(a).block_until_ready()
    flop = 2 * n**3 * repeat / 1e9
    return flop / (time.perf_counter() - t0), flop / (time.process_time() - c0)


def step_gflop(name, world, table, tcfg) -> float:
    """XLA's flop count of one training step (forward + backward) of a default-config model."""
    import jax
    import numpy as np

    from jaxinterest.baselines import data as D
    from jaxinterest.baselines.registry import make_config, module
    from jaxinterest.baselines.train import as_batch, loss_fn, sample_targets
    from jaxinterest.data.columns import column

    cfg, model = make_config(name), module(name)
    ev = D.user_events(world, cfg.domains)
    start = int(world.meta["train_start"])
    streams = D.to_streams(ev, table.rows(ev.text), world.users.num_rows, start, cfg.max_len)
    rng = np.random.default_rng(0)
    sub = streams.take(rng.choice(len(streams.length), tcfg.batch_users, replace=False))
    cat = D.clicked_items(world)
    tgt = sample_targets(sub, tcfg.targets_per_user, cat, tcfg.n_random_negatives, rng)
    titles = column(world.news, "title")
    item_text = np.zeros(len(titles), np.int32)
    item_text[cat] = table.rows([titles[i] for i in cat])
    params = model.init(cfg, jax.random.key(0), table.dim)

    def f(p):
        return loss_fn(p, model, cfg, tcfg, as_batch(sub), tgt, table.vectors, item_text)[0]

    cost = jax.jit(jax.value_and_grad(f)).lower(params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0)) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", help="world directory (default: generate --preset into a temp dir)")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="all")
    ap.add_argument("--out", help="run directory (default: a temp dir, i.e. nothing cached)")
    ap.add_argument("--embed-cache", help="embedding cache to reuse (default: cold)")
    args = ap.parse_args()

    from jaxinterest.baselines import TrainConfig, parse_models, run_baselines
    from jaxinterest.baselines.features import embed_table
    from jaxinterest.data.io import load_world

    tmp = tempfile.mkdtemp(prefix="bench_baselines_")
    world_dir = args.world or os.path.join(tmp, "world")
    if not args.world:
        subprocess.run([sys.executable, "-m", "jaxinterest.cli", "world", "--preset", args.preset,
                        "--seed", str(args.seed), "--out", world_dir], check=True,
                       capture_output=True)  # fmt: skip
    load0 = os.getloadavg()[0]
    rate0 = matmul_gflops()
    world = load_world(world_dir)
    names = parse_models(args.models)
    out = Path(args.out or os.path.join(tmp, "run"))
    tcfg = TrainConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_baselines(world, out, names, tcfg=tcfg, embed_cache=args.embed_cache)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    rate1 = matmul_gflops()
    rate, cpu_rate = (rate0[0] + rate1[0]) / 2, (rate0[1] + rate1[1]) / 2
    table = embed_table([], args.embed_cache or out / "embeddings")
    models = {}
    for n in names:
        r = summary["rows"][n]
        flop = step_gflop(n, world, table, tcfg)
        train_s, train_cpu = r["train"]["seconds"], r["train"].get("cpu_seconds")
        achieved = flop * r["train"]["steps"] / train_s
        per_cpu = flop * r["train"]["steps"] / train_cpu if train_cpu else None
        models[n] = {
            "status": r["status"],
            "steps": r["train"]["steps"],
            "train_seconds": train_s,
            "train_cpu_seconds": train_cpu,
            "evaluate_seconds": r["model_seconds"]["evaluate"],
            "evaluate_cpu_seconds": r["model_seconds"].get("evaluate_cpu"),
            "step_gflop": round(flop, 3),
            "train_gflops": round(achieved, 2),
            "fraction_of_matmul_rate": round(achieved / rate, 3),
            "train_gflop_per_cpu_second": round(per_cpu, 2) if per_cpu else None,
            "fraction_of_matmul_cpu_rate": round(per_cpu / cpu_rate, 3) if per_cpu else None,
            "recall@10": round(r["all"]["recall@10"], 4),
        }
    emit({
        "bench": "baselines",
        "world": str(world_dir),
        "preset": world.meta.get("preset"),
        "users": world.users.num_rows,
        "embed_seconds": summary["seconds"]["embed"],
        "embed_cpu_seconds": summary["cpu_seconds"]["embed"],
        "references_seconds": summary["seconds"]["references"],
        "references_cpu_seconds": summary["cpu_seconds"]["references"],
        "models": models,
        "total_seconds": round(total, 1),
        "total_cpu_seconds": round(cpu, 1),  # all threads; wall >= cpu / 2 on 2 free cores
        "goal_seconds": 900,
        "ratio_total_over_goal": round(total / 900, 3),
        # load-independent reading: CPU seconds over the 2 cores' CPU-second budget (1800)
        "ratio_cpu_over_2core_budget": round(cpu / 1800, 3),
        "anchor_matmul_gflops": {"start": round(rate0[0], 1), "end": round(rate1[0], 1)},
        "anchor_matmul_gflop_per_cpu_second": {"start": round(rate0[1], 1),
                                               "end": round(rate1[1], 1)},
        "load_avg_1min": {"start": load0, "end": os.getloadavg()[0]},
        **machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
