"""Serving speed of the teacher and the student in our sampler: users/s and the parameter ratio.

The paper's Table 6 serves one query list per user with vLLM on one A100: the 32B teacher at 2
users/s, the 0.5B student at 67 users/s, 33x faster at 66x the parameters. Here the pair is two
tiny presets of one family (they share the tokenizer, so one distils into the other); the
default, tiny-64m -> tiny-1m, is the pair whose parameter ratio (51x) is nearest the paper's.

One measurement: `--users` prompts of 120-300 random token ids, one list of `--new` tokens per
user sampled at temperature 1 (no stop token: every row runs the full length), all users in one
`generate` call. Teacher and student take turns (`--repeat` rounds after a compile call each,
best round kept), so a change of machine load hits both. Also printed: each model's matmul
FLOPs per second (the decoder over every prompt and new token, the LM head over the new tokens;
attention scores left out) as a fraction of this machine's float32 jnp matmul rate (best of
1024^3 and a decode-step GEMM, measured in the same run), the 1-minute load average at the start
and the end, and the goal (speed ratio >= 33x).

  python bench/serve_ratio.py [--teacher tiny-64m] [--student tiny-1m] [--users 64]
                              [--new 48] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from bench.grpo import matmul_params, matmul_timers  # noqa: E402
from jaxinterest.models.qwen2 import get_preset, init_params  # noqa: E402
from jaxinterest.sampling import SamplingParams, generate  # noqa: E402

PAPER = {"teacher_users_per_s": 2.0, "student_users_per_s": 67.0, "param_ratio": 66.3}


def prompts_for(vocab: int, n: int, lo: int = 120, hi: int = 300, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [rng.integers(10, vocab, rng.integers(lo, hi + 1)).tolist() for _ in range(n)]


def server(name: str, prompts, new: int):
    """(config, a blocking call that writes one sampled list per prompt)."""
    cfg = get_preset(name)
    params = init_params(cfg, jax.random.key(0))
    sampling = SamplingParams(new, temperature=1.0)
    key = jax.random.key(0)

    def run():
        out = generate(params, cfg, prompts, sampling, key=key, batch_rows=max(256, len(prompts)))
        assert (out.lengths == new).all()

    return cfg, run


def best_in_turns(fns: dict, repeat: int) -> dict:
    """Fastest of `repeat` rounds per fn (seconds), after one compile call each."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="tiny-64m")
    parser.add_argument("--student", default="tiny-1m")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--new", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    load_start = round(os.getloadavg()[0], 2)
    vocab = get_preset(args.teacher).vocab_size
    if get_preset(args.student).vocab_size != vocab:
        raise SystemExit(f"{args.teacher} and {args.student} do not share a vocabulary")
    prompts = prompts_for(vocab, args.users)
    models = {role: server(name, prompts, args.new)
              for role, name in (("teacher", args.teacher), ("student", args.student))}  # fmt: skip
    seconds = best_in_turns({role: run for role, (_, run) in models.items()}, args.repeat)
    d = get_preset(args.teacher).hidden_size
    mm = matmul_timers([(args.users, d, 4 * d), (1024, 1024, 1024)])
    peak = max(f / timeit(call, warmup=0, repeat=3) / 1e9 for f, call in mm.values())
    tokens = sum(map(len, prompts)) + args.users * args.new
    out = {}
    for role, (cfg, _) in models.items():
        # the decoder runs on every prompt and new token, the LM head only where a token is drawn
        head = cfg.vocab_size * cfg.hidden_size
        gflop = 2 * ((matmul_params(cfg) - head) * tokens + head * args.users * args.new) / 1e9
        out[role] = {
            "preset": args.teacher if role == "teacher" else args.student,
            "params": cfg.num_params,
            "seconds": round(seconds[role], 3),
            "users_per_s": round(args.users / seconds[role], 2),
            "fraction_of_matmul_rate": round(gflop / seconds[role] / peak, 4),
        }
    speed = seconds["teacher"] / seconds["student"]
    params = out["teacher"]["params"] / out["student"]["params"]
    emit({
        "bench": "serve_ratio", "jax": jax.__version__,
        "machine": machine() | {"load_avg_1m": load_start,
                                "load_avg_1m_end": round(os.getloadavg()[0], 2)},
        "anchor": "the paper's Table 6 (vLLM, one A100): 2 vs 67 users/s at 66x the parameters; "
                  "jnp float32 matmul rate",
        "users": args.users, "prompt_tokens": "120-300", "new_tokens": args.new,
        "matmul_gflops_best": round(peak, 2),
        **out,
        "param_ratio": round(params, 1),
        "speed_ratio": round(speed, 1),
        "paper": PAPER | {"speed_ratio": round(67 / 2, 1)},
        "goal": "speed_ratio >= 33 at a parameter ratio near 64",
        "goal_met": speed >= 33.0,
    })  # fmt: skip


if __name__ == "__main__":
    main()
