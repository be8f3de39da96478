"""Bench: generate + write a world preset, then Grain examples/s through prompt rendering.

Prints ONE JSON object. Anchors: the issue's goal for the `paper` preset (<= 10 min, <= 8 GB on
2 cores), and for the pipeline a plain Python loop rendering the same users' prompts without
Grain (same process, same tokenizer), so the ratio shows Grain's overhead.

    python bench/world.py --preset paper      # the real figure (several minutes)
    python bench/world.py --preset small      # quick run
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

GOAL_SECONDS, GOAL_RSS_GB = 600.0, 8.0
TABLE1 = {"mean_browse": 37.0, "mean_search": 13.0, "mean_clicks": 39.0}


def generate(preset: str, seed: int, out: Path) -> dict:
    """Run `jaxinterest world` in a child process: its wall time, CPU time and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "jaxinterest.cli",
        "world",
        "--preset",
        preset,
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": wall, "cpu_seconds": cpu, "peak_rss_gb": after.ru_maxrss / 2**20}


def subset(world: Path, out: Path, n_users: int) -> Path:
    """A world dir with the first n_users users' events (first row groups only: no full load)."""
    out.mkdir(parents=True, exist_ok=True)
    pf = pq.ParquetFile(world / "events.parquet")
    ev = pf.read_row_group(0)
    ids = pc.unique(ev.column("user_id"))[:n_users]
    ev = ev.filter(pc.is_in(ev.column("user_id"), ids))
    pq.write_table(ev, out / "events.parquet")
    users = pq.read_table(world / "users.parquet")
    pq.write_table(users.filter(pc.is_in(users.column("user_id"), ids)), out / "users.parquet")
    shutil.copy(world / "meta.json", out / "meta.json")
    return out


def grain_rate(world: Path, n_users: int, batch: int, workers: int) -> dict:
    from jaxinterest.data.pipeline import MakeExample, PipelineConfig, UserSource, build_dataset
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.tokenizer import tiny_tokenizer

    tok = tiny_tokenizer()
    pcfg = PromptConfig(max_prompt_tokens=1024)
    src = UserSource(world, split=None)
    cfg = PipelineConfig(
        batch_size=batch, shard_index=0, shard_count=1, num_workers=workers, drop_remainder=False
    )
    next(iter(build_dataset(src, tok, pcfg, cfg)))  # warm-up (tokenizer caches, imports)
    t0 = time.perf_counter()
    n = sum(len(b["length"]) for b in build_dataset(src, tok, pcfg, cfg))
    grain_s = time.perf_counter() - t0
    make = MakeExample(tok, pcfg)
    for i in range(min(16, len(src))):  # warm-up, as the Grain run had
        make(src[i])
    t0 = time.perf_counter()
    for i in range(len(src)):
        make(src[i])
    plain_s = time.perf_counter() - t0
    return {
        "users": n,
        "grain_examples_per_s": n / grain_s,
        "plain_loop_examples_per_s": len(src) / plain_s,
        "grain_over_plain": (n / grain_s) / (len(src) / plain_s),
        "workers": workers,
        "max_prompt_tokens": pcfg.max_prompt_tokens,
        "tokenizer": "tiny BPE 8k (chatml)",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper", choices=["tiny", "small", "paper"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the world here (default: temp, deleted)")
    ap.add_argument("--grain-users", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_world_"))
    out = Path(args.out) if args.out else tmp / "world"
    try:
        gen = generate(args.preset, args.seed, out)
        meta = json.loads((out / "meta.json").read_text())
        counts = meta["counts"]
        disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        rate = grain_rate(
            subset(out, tmp / "sub", args.grain_users),
            args.grain_users,
            args.batch_size,
            args.workers,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    means = {k: counts[k] for k in TABLE1}
    result = {
        "bench": "world",
        "preset": args.preset,
        "seed": args.seed,
        "generate": {
            **{k: round(v, 2) for k, v in gen.items()},
            "goal_seconds": GOAL_SECONDS,
            "goal_peak_rss_gb": GOAL_RSS_GB,
            "time_ratio_to_goal": round(gen["seconds"] / GOAL_SECONDS, 3),
            "rss_ratio_to_goal": round(gen["peak_rss_gb"] / GOAL_RSS_GB, 3),
            "disk_gb": round(disk / 2**30, 3),
        },
        "counts": {
            k: counts[k]
            for k in (
                "users",
                "news",
                "events",
                "test_clicks",
                "test_news",
                "cold_users",
                "noise_share",
            )
        },
        "per_user_means": means,
        "table1": TABLE1,
        "means_rel_err": {k: round(abs(means[k] - v) / v, 5) for k, v in TABLE1.items()},
        "pipeline": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in rate.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
