"""One decode step in isolation: our jitted step against transformers' cached forward.

Prints one JSON object. Both sides decode `--steps` greedy tokens for `--batch` rows after a
`--prompt`-token prefill, on the same random config, float32, and report milliseconds per
step (the prefill is not timed):
- ours: `sampling.step.decode_step` + the greedy token choice inside one jitted fori_loop,
  the cache donated between runs (what `engine.decode` runs, without its bookkeeping), on the
  "kernel" backend (C++ CPU kernels) and on the pure-JAX "xla" backend;
- transformers: `model(token, past_key_values=cache)` + argmax in a Python loop, the
  DynamicCache growing by one slot a step (what `generate` runs, without its bookkeeping).
transformers runs at 2 and at 1 torch thread (OpenMP's spinning 2-thread runs suffer most on
a shared machine) and the faster counts. Runs alternate (best of --repeat each) so that load
changes hit every variant alike.

The step's share of `bench/sampler.py`'s end-to-end time is steps * ms/step; the rest is
prefill and host work.

  python bench/decode_step.py [--size tiny-5m] [--batch 32] [--prompt 48] [--steps 63]
                              [--xla-default]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from bench.common import emit, machine  # noqa: E402
from jaxinterest import kernels  # noqa: E402
from jaxinterest.models.qwen2 import get_preset, init_params, save_hf  # noqa: E402
from jaxinterest.sampling.engine import XLA_OPTIONS  # noqa: E402
from jaxinterest.sampling.filters import SamplingMode, sample_step  # noqa: E402
from jaxinterest.sampling.step import caches_from_stacked, decode_step, prepare  # noqa: E402


def ours_fn(params, cfg, batch: int, prompt: int, steps: int, backend: str, options=XLA_OPTIONS):
    slots = prompt + steps + 1
    weights = prepare(params, cfg, backend)
    kv_valid = jnp.ones((batch, slots), bool)
    lo = jnp.zeros((batch,), jnp.int32)
    # The step's own cache layout, from the model's stacked [L, B, S, K, H] one.
    zeros = jnp.zeros((cfg.num_layers, batch, slots, cfg.num_kv_heads, cfg.head_dim))
    state = {"cache": caches_from_stacked({"k": zeros, "v": zeros}, backend)}

    def choose(logits):
        if backend == "kernel":
            return kernels.sample_rows(logits, jnp.zeros((batch,)), 1.0, greedy=True)[0]
        return sample_step(jax.random.key(0), logits, SamplingMode(greedy=True), 1.0, 1.0)[0]

    @functools.partial(jax.jit, donate_argnums=(1,), compiler_options=options)
    def run(weights, cache):
        def body(t, carry):
            cache, tokens = carry
            positions = jnp.full((batch,), prompt) + t
            logits, cache = decode_step(
                weights, cache, tokens, positions, prompt + t, kv_valid, lo, cfg, backend
            )
            return cache, choose(logits)

        return jax.lax.fori_loop(0, steps, body, (cache, jnp.zeros((batch,), jnp.int32)))

    def call():
        cache, tokens = run(weights, state["cache"])
        jax.block_until_ready(tokens)
        state["cache"] = cache

    return call


def hf_fn(params, cfg, batch: int, prompt: int, steps: int):
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        save_hf(tmp, cfg, params)
        model = transformers.AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    ids = torch.randint(0, cfg.vocab_size, (batch, prompt))

    def call():
        with torch.inference_mode():
            out = model(ids, use_cache=True)
            cache, tokens = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for _ in range(steps):
                out = model(tokens, past_key_values=cache, use_cache=True)
                cache, tokens = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            return time.perf_counter() - t0

    return call


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="tiny-5m")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--prompt", type=int, default=48)
    parser.add_argument("--steps", type=int, default=63)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--xla-default",
        action="store_true",
        help="also time each backend under XLA:CPU's default options (YNNPACK on), the A/B "
        "behind engine.XLA_OPTIONS",
    )
    args = parser.parse_args(argv)
    import torch

    cfg = get_preset(args.size)
    params = init_params(cfg, jax.random.key(0))
    backends = ("kernel", "xla") if kernels.kernel_available() else ("xla",)
    ours = {b: ours_fn(params, cfg, args.batch, args.prompt, args.steps, b) for b in backends}
    if args.xla_default:
        for b in backends:
            ours[f"{b}_default_options"] = ours_fn(
                params, cfg, args.batch, args.prompt, args.steps, b, options={}
            )
    theirs = hf_fn(params, cfg, args.batch, args.prompt, args.steps)
    for fn in ours.values():
        fn()
    theirs()
    best_ours = dict.fromkeys(ours, float("inf"))
    best_theirs = {2: float("inf"), 1: float("inf")}
    for _ in range(args.repeat):
        for b, fn in ours.items():
            t0 = time.perf_counter()
            fn()
            best_ours[b] = min(best_ours[b], time.perf_counter() - t0)
        for threads in best_theirs:
            torch.set_num_threads(threads)
            best_theirs[threads] = min(best_theirs[threads], theirs())
    torch.set_num_threads(2)
    ms_ours = {b: t / args.steps * 1e3 for b, t in best_ours.items()}
    ms_theirs = {t: b / args.steps * 1e3 for t, b in best_theirs.items()}
    fastest = min(ms_theirs.values())
    emit(
        {
            "bench": "decode_step",
            "config": {"size": args.size, "params": cfg.num_params}
            | {k: getattr(args, k) for k in ("batch", "prompt", "steps")},
            "anchor": f"transformers cached forward + argmax, torch {torch.__version__}",
            "machine": machine() | {"load_avg_1m": round(os.getloadavg()[0], 2)},
            **{f"ours_{b}_ms_per_step": round(ms, 3) for b, ms in ms_ours.items()},
            "transformers_2threads_ms_per_step": round(ms_theirs[2], 3),
            "transformers_1thread_ms_per_step": round(ms_theirs[1], 3),
            **{
                f"ratio_{b}_vs_faster_transformers": round(fastest / ms, 2)
                for b, ms in ms_ours.items()
            },
        }
    )


if __name__ == "__main__":
    main()
