"""The token-choice operations of one decode step, each against the plain-XLA way to do it.

Prints one JSON object: milliseconds per jitted call at the decode shape [rows, vocab]
(tiny-5m at batch 32: [32, 8192]) for each pair, and their ratio, measured alternately in this
process. These are the measurements behind the design of `sampling/filters.py` and
`engine.XLA_OPTIONS` (docs/speed.md):
- nucleus: `nucleus_threshold_mask` (bisection over float bit patterns) vs a full sort;
- draw: `sample_step` at temperature 1 (one uniform per row, two-level inverse CDF) vs
  `jax.random.categorical` (one Gumbel variate per logit);
- greedy: `sample_step` greedy (max, then min of matching indices) vs `jnp.argmax`;
- head: the [rows, D] x [D, vocab] LM-head matmul compiled with `engine.XLA_OPTIONS`
  (YNNPACK off, Eigen dots) vs XLA:CPU's default options.

  python bench/sampling_ops.py [--rows 32] [--vocab 8192] [--width 256] [--repeat 20]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from jaxinterest.sampling import SamplingMode, nucleus_threshold_mask, sample_step  # noqa: E402
from jaxinterest.sampling.engine import XLA_OPTIONS  # noqa: E402


def pairs(rows: int, vocab: int, width: int) -> dict:
    """name -> (ours, theirs): zero-argument callables that block on their result."""
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    logits = 3.0 * jax.random.normal(k1, (rows, vocab))
    x = jax.random.normal(k2, (rows, width))
    w = 0.05 * jax.random.normal(k3, (width, vocab))
    key = jax.random.key(1)
    one = jnp.float32(1.0)

    def call(f, *args):
        return lambda: jax.block_until_ready(f(*args))

    nucleus = jax.jit(nucleus_threshold_mask)
    full_sort = jax.jit(lambda z: jnp.sort(z, axis=-1))
    draw = jax.jit(lambda k, z: sample_step(k, z, SamplingMode(), one, one)[0])
    categorical = jax.jit(lambda k, z: jax.random.categorical(k, z, axis=-1))
    greedy = jax.jit(lambda k, z: sample_step(k, z, SamplingMode(greedy=True), one, one)[0])
    argmax = jax.jit(lambda z: jnp.argmax(z, axis=-1))
    matmul = functools.partial(jnp.matmul, preferred_element_type=jnp.float32)
    head_eigen = jax.jit(matmul, compiler_options=XLA_OPTIONS)
    head_default = jax.jit(matmul)
    return {
        "nucleus_threshold_vs_sort": (call(nucleus, logits, 0.9), call(full_sort, logits)),
        "inverse_cdf_draw_vs_categorical": (
            call(draw, key, logits),
            call(categorical, key, logits),
        ),
        "greedy_max_min_vs_argmax": (call(greedy, key, logits), call(argmax, logits)),
        "head_engine_options_vs_default": (call(head_eigen, x, w), call(head_default, x, w)),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--width", type=int, default=256, help="model width D of the head")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    results = {}
    for name, (ours, theirs) in pairs(args.rows, args.vocab, args.width).items():
        ours(), theirs()  # compile both first
        t_ours, t_theirs = [], []
        for _ in range(3):  # alternate, so load changes hit both sides
            t_ours.append(timeit(ours, warmup=0, repeat=args.repeat))
            t_theirs.append(timeit(theirs, warmup=0, repeat=args.repeat))
        ours_ms, theirs_ms = sorted(t_ours)[1] * 1e3, sorted(t_theirs)[1] * 1e3
        results[name] = {
            "ours_ms": round(ours_ms, 3),
            "theirs_ms": round(theirs_ms, 3),
            "speedup": round(theirs_ms / ours_ms, 2),
        }
    emit(
        {
            "bench": "sampling_ops",
            "shape": [args.rows, args.vocab],
            "head": [args.width, args.vocab],
            "jax": jax.__version__,
            "machine": machine(),
            "load_1min": round(os.getloadavg()[0], 1),
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
