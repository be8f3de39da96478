"""GRPO training speed. Prints one JSON object.

Part 1: model FLOP/s of the jitted Dr.GRPO update step (policy forward + backward over
[prompt + completion], loss, AdamW) against the machine's own float32 jnp matmul rate measured
in the same run (MFU). Model FLOPs per step (PaLM appendix B convention, full T x T attention):

  tokens * (6 * N + 12 * L * n_heads * head_dim * T)

N = the parameters that enter matmuls (the tied embedding counted once, as the LM head; norm
scales and biases left out), tokens = rows * T, T = prompt + completion length. The anchor is
the best rate of jnp.matmul over the step's own GEMM shapes ([tokens, D] x [D, F] and
[tokens, D] x [D, V]) and a square 1024^3, so the fraction is against what this machine's
matmul reaches at its best.

Part 2 (seconds per full iteration split into rollout / reward / update, beside TRL's
GRPOTrainer) is not written yet.

  python bench/grpo.py [--part 1] [--preset tiny-21m] [--rows 16] [--prompt 120]
                       [--completion 48] [--micro-batches 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from jaxinterest.models.qwen2 import Qwen2Config, get_preset, init_params  # noqa: E402
from jaxinterest.sampling import pack  # noqa: E402
from jaxinterest.train import (  # noqa: E402
    OptimConfig,
    create_state,
    grpo_objective,
    logprob_fn,
    make_optimizer,
    make_train_step,
)


def matmul_params(cfg: Qwen2Config) -> int:
    """Parameters that take part in matmuls: attention and MLP kernels, and the (tied or
    untied) LM head. Norm scales, biases and the embedding lookup do no matmul work."""
    d, f, n, k, h = (
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.num_heads,
        cfg.num_kv_heads,
        cfg.head_dim,
    )
    layer = d * n * h + 2 * d * k * h + n * h * d + 3 * d * f
    return cfg.num_layers * layer + cfg.vocab_size * d


def step_flops(cfg: Qwen2Config, rows: int, seq: int) -> float:
    per_token = 6 * matmul_params(cfg) + 12 * cfg.num_layers * cfg.num_heads * cfg.head_dim * seq
    return float(rows * seq * per_token)


def matmul_timers(shapes) -> dict:
    """{"m x k x n": (flops, blocking call)} for jitted float32 jnp matmuls of these shapes."""
    out = {}
    for m, k, n in shapes:
        a = jnp.asarray(np.random.default_rng(0).normal(size=(m, k)), jnp.float32)
        b = jnp.asarray(np.random.default_rng(1).normal(size=(k, n)), jnp.float32)
        f = jax.jit(jnp.matmul)
        f(a, b).block_until_ready()
        out[f"{m}x{k}x{n}"] = (2 * m * k * n, lambda a=a, b=b, f=f: f(a, b).block_until_ready())
    return out


def grpo_batch(cfg: Qwen2Config, params, rows: int, prompt: int, completion: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    prompts = [list(rng.integers(1, cfg.vocab_size, prompt)) for _ in range(rows)]
    comps = [list(rng.integers(1, cfg.vocab_size, completion)) for _ in range(rows)]
    batch = pack(prompts, comps, 0, prompt, completion)
    batch["old_logp"] = np.asarray(logprob_fn(cfg)(params, batch))
    batch["advantages"] = rng.normal(0, 1, rows).astype(np.float32)
    return {k: jnp.asarray(v) for k, v in batch.items()}


def part1(args) -> dict:
    cfg = get_preset(args.preset)
    seq = args.prompt + args.completion
    params = init_params(cfg, jax.random.key(0))
    optim = OptimConfig(lr=1e-6, warmup_steps=0, total_steps=1000)
    optimizer = make_optimizer(optim)
    objective = grpo_objective(cfg, clip_eps=0.2, beta=0.0, max_len=args.completion)
    step = make_train_step(objective, optimizer, micro_batches=args.micro_batches)
    batch = grpo_batch(cfg, params, args.rows, args.prompt, args.completion)
    state = create_state(params, optimizer, jax.random.key(1))

    t0 = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    logp = logprob_fn(cfg)
    jax.block_until_ready(logp(state.params, batch))

    tokens = args.rows * seq
    flops = step_flops(cfg, args.rows, seq)
    mm = matmul_timers(
        [
            (tokens // args.micro_batches, cfg.hidden_size, cfg.intermediate_size),
            (tokens // args.micro_batches, cfg.hidden_size, cfg.vocab_size),
            (1024, 1024, 1024),
        ]
    )
    # Rounds interleave the step, the forward and the anchor matmuls so that load from other
    # processes hits all of them alike; each round gives its own fractions, and the medians
    # are reported.
    rounds = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        step_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(logp(state.params, batch))
        fwd_s = time.perf_counter() - t0
        rates = {name: f / timeit(call, warmup=0, repeat=3) / 1e9 for name, (f, call) in mm.items()}
        rounds.append((step_s, fwd_s, rates))
    step_s = float(np.median([r[0] for r in rounds]))
    fwd_s = float(np.median([r[1] for r in rounds]))
    peak = [max(r[2].values()) for r in rounds]
    mfu = [flops / r[0] / 1e9 / p for r, p in zip(rounds, peak, strict=True)]
    fwd_mfu = [flops / 3 / r[1] / 1e9 / p for r, p in zip(rounds, peak, strict=True)]
    return {
        "preset": args.preset,
        "params": cfg.num_params,
        "matmul_params": matmul_params(cfg),
        "rows": args.rows,
        "seq": seq,
        "micro_batches": args.micro_batches,
        "flops_formula": "rows*T*(6*N_matmul + 12*L*n_heads*head_dim*T)",
        "step_gflop": round(flops / 1e9, 2),
        "step_seconds": round(step_s, 4),
        "compile_seconds": round(compile_s, 2),
        "tokens_per_s": round(tokens / step_s, 1),
        "model_gflops": round(flops / step_s / 1e9, 2),
        "matmul_gflops": {k: round(float(np.median([r[2][k] for r in rounds])), 2) for k in mm},
        "mfu": round(float(np.median(mfu)), 3),
        "mfu_rounds": [round(x, 3) for x in mfu],
        "forward_seconds": round(fwd_s, 4),
        "forward_mfu": round(float(np.median(fwd_mfu)), 3),
        "nonfinite_steps": int(metrics["skipped"]),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", type=int, choices=[1, 2], default=1)
    parser.add_argument("--preset", default="tiny-21m")
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--prompt", type=int, default=120)
    parser.add_argument("--completion", type=int, default=48)
    parser.add_argument("--micro-batches", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.part == 2:
        parser.error("part 2 (full iteration vs TRL GRPOTrainer) is not written yet")
    emit(
        {
            "bench": "grpo_update_step",
            "part": 1,
            "anchor": "jnp float32 matmul, best of the step's GEMM shapes and 1024^3",
            "jax": jax.__version__,
            "machine": machine(),
            "result": part1(args),
        }
    )


if __name__ == "__main__":
    main()
