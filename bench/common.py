"""Small timing helpers shared by the bench scripts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time


def timeit(fn, *, warmup: int = 1, repeat: int = 5, min_seconds: float = 0.0) -> float:
    """Median wall time of fn() in seconds (fn must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def emit(result: dict) -> None:
    print(json.dumps(result, indent=2))


def matmul_params(cfg) -> int:
    """Parameters of a Qwen2 config that take part in matmuls: attention and MLP kernels and
    the LM head (the tied embedding counted once, as the head). Norm scales, biases and the
    embedding lookup do no matmul work."""
    d, f, n, k, h = (
        cfg.hidden_size,
        cfg.intermediate_size,
        cfg.num_heads,
        cfg.num_kv_heads,
        cfg.head_dim,
    )
    layer = d * n * h + 2 * d * k * h + n * h * d + 3 * d * f
    return cfg.num_layers * layer + cfg.vocab_size * d
