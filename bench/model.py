"""Forward throughput: jax.jit(forward) against HF transformers + torch on the same config.

Prints one JSON object: tokens/s for each side and their ratio, per model size. Both sides run
in this process on the CPU with the same thread count, float32, the same token batch.

  python bench/model.py [--sizes tiny-5m,smollm2-135m] [--batch 8] [--seq 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from jaxinterest.models.qwen2 import Qwen2Config, forward, get_preset, init_params, save_hf  # noqa: E402

# SmolLM2-135M's architecture (Llama = Qwen2 without q/k/v biases): the ~100M-class anchor.
SMOLLM2_135M = Qwen2Config(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_layers=30,
    num_heads=9,
    num_kv_heads=3,
    head_dim=64,
    rope_theta=100_000.0,
    rms_norm_eps=1e-5,
    tie_embeddings=True,
    qkv_bias=False,
    max_position_embeddings=8192,
    architecture="llama",
)


def config(name: str) -> Qwen2Config:
    return SMOLLM2_135M if name == "smollm2-135m" else get_preset(name)


def bench_size(name: str, batch: int, seq: int, repeat: int) -> dict:
    import torch
    import transformers

    cfg = config(name)
    params = init_params(cfg, jax.random.key(0))
    tokens = np.random.default_rng(0).integers(0, cfg.vocab_size, (batch, seq))
    jt = jnp.asarray(tokens)
    fwd = jax.jit(forward, static_argnums=2)
    ours = timeit(lambda: fwd(params, jt, cfg).block_until_ready(), repeat=repeat)

    with tempfile.TemporaryDirectory() as tmp:
        save_hf(tmp, cfg, params)
        model = transformers.AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
    tt = torch.tensor(tokens)

    def hf():
        with torch.inference_mode():
            model(tt)

    theirs = timeit(hf, repeat=repeat)
    n = batch * seq
    return {
        "size": name,
        "params": cfg.num_params,
        "batch": batch,
        "seq": seq,
        "ours_tokens_per_s": round(n / ours, 1),
        "transformers_tokens_per_s": round(n / theirs, 1),
        "ratio": round(theirs / ours, 3),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="tiny-5m,tiny-21m,smollm2-135m")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = [bench_size(s, args.batch, args.seq, args.repeat) for s in args.sizes.split(",")]
    emit(
        {
            "bench": "model_forward",
            "anchor": f"transformers {__import__('transformers').__version__} + torch "
            f"{torch.__version__}, float32, {args.threads} threads",
            "jax": jax.__version__,
            "machine": machine(),
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
