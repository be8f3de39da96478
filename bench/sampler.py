"""Generation throughput: `jaxinterest.sampling.generate` against transformers `generate`.

Prints one JSON object with, in one run on the same configs and prompts:
- tokens/s generating 64 new tokens for batch 32 and batch 1 (greedy, every row forced to
  the full length on both sides: no EOS on ours, min_new_tokens on transformers'), per size;
- users/s in the paper's sense (Table 6: one query list per user): prompts of 120-300 tokens,
  48 new tokens sampled at temperature 1, for two tiny sizes about 16x apart;
- the effect of sharing one prefill across G samples of a prompt.

Variants: ours on one XLA CPU device with the default backend (the C++ CPU kernels), ours on
the pure-JAX "xla" backend, ours with rows split over two CPU devices (one per core; sharded
params take the "xla" backend), transformers with torch at 2 threads and at 1 thread (on a
machine shared with other jobs OpenMP's spinning 2-thread runs can be much slower). Variants
are timed in turns (best of --repeat), so load changes during the run hit all of them; ratios
are against the faster transformers variant.

  python bench/sampler.py [--sizes tiny-5m,tiny-21m] [--user-sizes tiny-1m,tiny-21m] [--quick]

`--prefill-options` prints only the prefill program's XLA:CPU options comparison instead:
`engine.prefill` compiled with XLA's defaults (YNNPACK on; what the engine uses) against
`engine.XLA_OPTIONS` (YNNPACK off, the decode program's options and the prefill's until now),
on [rows, --prefill-width] prompts, timed in turns: best wall time, median process CPU time
(all threads: on a loaded machine the work done is steadier than the wall time), and the
achieved matmul FLOP rate as a fraction of this machine's jnp [1024]^3 matmul rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Two simulated CPU devices, so that one variant splits rows over both cores explicitly (one
# XLA CPU device may keep these small matmuls on one core).
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine  # noqa: E402
from jaxinterest import sharding as shd  # noqa: E402
from jaxinterest.models.qwen2 import get_preset, init_params, param_axes, save_hf  # noqa: E402
from jaxinterest.sampling import SamplingParams, generate  # noqa: E402


def interleaved_best(fns: dict, repeat: int) -> dict:
    """Fastest of `repeat` timed calls of each fn, in seconds, after one warm-up (compile) call
    each. The fns take turns, so a change in machine load affects all of them alike."""
    import torch

    def call(name):
        threads = THREADS.get(name)
        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        fns[name]()
        return time.perf_counter() - t0

    for name in fns:
        call(name)
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name in fns:
            best[name] = min(best[name], call(name))
    torch.set_num_threads(2)
    return best


# torch thread count for the transformers variants.
THREADS = {"transformers_2threads": 2, "transformers_1thread": 1}


def dp_params(params, cfg, devices: int):
    """Params replicated on a `devices`-way data-parallel mesh: generate then splits rows."""
    mesh = shd.make_mesh((devices, 1, 1), jax.devices()[:devices])
    return shd.shard_params(params, param_axes(cfg), mesh, shd.get_rules("dp"))


def variants(params, cfg, model, prompts, new, sample, **kw) -> dict:
    fns = {"ours": ours_fn(params, cfg, prompts, new, sample, **kw)}
    fns["ours_xla"] = ours_fn(params, cfg, prompts, new, sample, backend="xla", **kw)
    if jax.device_count() >= 2 and len(prompts) % 2 == 0:
        fns["ours_2devices"] = ours_fn(
            dp_params(params, cfg, 2), cfg, prompts, new, sample, rules="dp", **kw
        )
    if model is not None:
        for name in THREADS:
            fns[name] = hf_generate_fn(model, prompts, new, sample)
    return fns


def prompts_for(cfg, n: int, lo: int, hi: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, cfg.vocab_size, rng.integers(lo, hi + 1)).tolist() for _ in range(n)]


def load_hf_model(cfg, params):
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        save_hf(tmp, cfg, params)
        return transformers.AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()


def hf_generate_fn(model, prompts, new: int, sample: bool):
    """transformers generate on the left-padded batch, forced to `new` tokens per row."""
    import torch

    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    # Sampling as ours does it: temperature 1, no top-k (transformers defaults to 50), no top-p.
    options = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if sample else {}

    def run():
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=new,
                min_new_tokens=new,
                pad_token_id=0,
                eos_token_id=None,
                **options,
            )
        assert out.shape[1] == width + new

    return run


def ours_fn(params, cfg, prompts, new: int, sample: bool, num_samples: int = 1, **kw):
    key = jax.random.key(0)

    def run():
        out = generate(
            params,
            cfg,
            prompts,
            SamplingParams(new, temperature=1.0 if sample else 0.0, num_samples=num_samples),
            key=key,
            batch_rows=max(256, len(prompts)),
            **kw,
        )
        assert (out.lengths == new).all()

    return run


def summarise(times: dict, work: int, unit: str) -> dict:
    """Rates per variant, and ours (best of its variants) over the faster transformers."""
    out = {f"{name}_{unit}": round(work / t, 2) for name, t in times.items()}
    ours = min(t for name, t in times.items() if name.startswith("ours"))
    theirs = min(t for name, t in times.items() if name.startswith("transformers"))
    out["ratio_best_ours_vs_faster_transformers"] = round(theirs / ours, 2)
    out["ratio_ours_1device_vs_faster_transformers"] = round(theirs / times["ours"], 2)
    out["ratio_ours_xla_vs_faster_transformers"] = round(theirs / times["ours_xla"], 2)
    return out


def throughput(name: str, batches, new: int, repeat: int) -> dict:
    cfg = get_preset(name)
    params = init_params(cfg, jax.random.key(0))
    model = load_hf_model(cfg, params)
    out = {"params": cfg.num_params}
    for b in batches:
        prompts = prompts_for(cfg, b, 20, 40)
        times = interleaved_best(variants(params, cfg, model, prompts, new, False), repeat)
        out[f"batch{b}"] = summarise(times, b * new, "tokens_per_s")
    return out


def users_per_s(name: str, users: int, new: int, repeat: int) -> dict:
    cfg = get_preset(name)
    params = init_params(cfg, jax.random.key(0))
    prompts = prompts_for(cfg, users, 120, 300, seed=1)
    model = load_hf_model(cfg, params)
    times = interleaved_best(variants(params, cfg, model, prompts, new, True), repeat)
    return {"params": cfg.num_params} | summarise(times, users, "users_per_s")


def prefill_sharing(name: str, n_prompts: int, g: int, new: int, repeat: int) -> dict:
    cfg = get_preset(name)
    params = init_params(cfg, jax.random.key(0))
    prompts = prompts_for(cfg, n_prompts, 250, 300, seed=2)
    fns = {
        share: ours_fn(params, cfg, prompts, new, True, num_samples=g, share_prefill=share)
        for share in (True, False)
    }
    times = interleaved_best(fns, repeat)
    return {
        "size": name,
        "prompts": n_prompts,
        "samples_per_prompt": g,
        "prompt_tokens": "250-300",
        "new_tokens": new,
        "shared_prefill_s": round(times[True], 3),
        "prefill_per_sample_s": round(times[False], 3),
        "speedup": round(times[False] / times[True], 2),
    }


def prefill_options(name: str, rows: list[int], width: int, repeat: int) -> dict:
    """The prefill program under XLA's default options vs `engine.XLA_OPTIONS` (see the doc)."""
    from bench.common import matmul_params
    from bench.serve import matmul_gflops
    from jaxinterest.sampling import engine

    cfg = get_preset(name)
    params = init_params(cfg, jax.random.key(0))
    wrapped = engine.prefill.__wrapped__
    static = ("cfg", "repeat", "backend")
    programs = {
        "default_ynnpack": jax.jit(wrapped, static_argnames=static),
        "engine_xla_options_eigen": jax.jit(
            wrapped, static_argnames=static, compiler_options=engine.XLA_OPTIONS
        ),
    }
    rng = np.random.default_rng(3)
    cases = {}
    for b in rows:
        tokens = jax.numpy.asarray(rng.integers(3, cfg.vocab_size, (b, width)), np.int32)
        mask = jax.numpy.ones((b, width), bool)
        for label, fn in programs.items():
            cases[(b, label)] = (fn, tokens, mask)
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    for i in range(repeat + 1):  # the first turn compiles
        for k, (fn, tokens, mask) in cases.items():
            c0, t0 = time.process_time(), time.perf_counter()
            jax.block_until_ready(fn(params, tokens, mask, cfg=cfg, backend="xla"))
            if i:
                wall[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    gflops = matmul_gflops()
    body = matmul_params(cfg) - cfg.vocab_size * cfg.hidden_size  # the head runs on one row
    out = {"size": name, "width": width, "matmul_gflops": round(gflops, 2)}
    for (b, label), times in wall.items():
        flops = 2 * (body * b * width + cfg.vocab_size * cfg.hidden_size * b)
        best = min(times)
        out[f"rows{b}_{label}"] = {
            "best_wall_ms": round(1000 * best, 1),
            "median_cpu_ms": round(1000 * float(np.median(cpu[(b, label)])), 1),
            "fraction_of_matmul_rate": round(flops / best / 1e9 / gflops, 3),
        }
    for b in rows:
        new, old = out[f"rows{b}_default_ynnpack"], out[f"rows{b}_engine_xla_options_eigen"]
        out[f"rows{b}_wall_speedup"] = round(old["best_wall_ms"] / new["best_wall_ms"], 2)
        out[f"rows{b}_cpu_speedup"] = round(old["median_cpu_ms"] / new["median_cpu_ms"], 2)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny-5m,tiny-21m")
    parser.add_argument("--user-sizes", default="tiny-1m,tiny-21m")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument(
        "--prefill-options", action="store_true", help="only the prefill options comparison"
    )
    parser.add_argument("--prefill-size", default="tiny-5m")
    parser.add_argument("--prefill-rows", default="1,4,8", help="prompts per prefill call")
    parser.add_argument("--prefill-width", type=int, default=256)
    args = parser.parse_args(argv)
    if args.prefill_options:
        rows = [int(x) for x in args.prefill_rows.split(",")]
        load = round(os.getloadavg()[0], 2)
        result = prefill_options(args.prefill_size, rows, args.prefill_width, 4 * args.repeat)
        emit(
            {"bench": "sampler_prefill_options", "jax": jax.__version__}
            | result
            | {"machine": machine(), "load_avg_start_end": [load, round(os.getloadavg()[0], 2)]}
        )
        return
    import torch
    import transformers

    repeat = 1 if args.quick else args.repeat
    sizes = args.sizes.split(",")[:1] if args.quick else args.sizes.split(",")
    user_sizes = args.user_sizes.split(",")
    result = {
        "bench": "sampler",
        "anchor": f"transformers {transformers.__version__} generate + torch {torch.__version__}"
        ", float32, CPU",
        "jax": jax.__version__,
        "machine": machine() | {"load_avg_1m": round(os.getloadavg()[0], 2)},
        "goal": "ours >= 3x transformers tokens/s at batch 32",
        "tokens_per_s_64_new": {s: throughput(s, (32, 1), 64, repeat) for s in sizes},
        "users_per_s_48_new": {s: users_per_s(s, args.users, 48, repeat) for s in user_sizes},
        "prefill_sharing": prefill_sharing("tiny-21m", 4, 8, 48, repeat),
    }
    result["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    emit(result)


if __name__ == "__main__":
    main()
