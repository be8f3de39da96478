"""One on-policy distillation step, ours vs TRL's GKDTrainer on the same teacher/student pair.

A step: the student samples one completion of `--new` tokens for each of `--prompts` prompts
(`--prompt`-token prompts of random ids), the teacher scores the student's prefixes and the
student takes one AdamW update on the per-token reverse KL. Ours: `generate` + the jitted update
step with `distill.distill_objective` (estimator "exact": the full-vocabulary reverse KL, what
GKD with beta = 1 computes; "sampled" timed too). TRL (when `trl` is installed, the `bench`
extra): `experimental.gkd.GKDTrainer` with lmbda = 1 (always on-policy), beta = 1 (reverse KL),
temperature 1, the same two models loaded from the same weights through transformers, the same
token ids, batch size = prompts; its per-step time comes from a trainer callback. Medians over
`--repeat` steps after one warm-up (compile) step each.

Our steps run inside TRL's training loop, after each of its steps (outside TRL's timed window):
both sides are timed in turns, so a change of machine load hits both alike (this machine is
shared). Fractions of the machine's float32 jnp matmul rate (best of 1024^3 and the update's
own GEMM shapes, measured in the same run) are printed beside the times, from the update's model
FLOPs (`update_flops`; TRL's step is charged the exact update's FLOPs).

  python bench/distill.py [--teacher tiny-21m] [--student tiny-5m] [--prompts 16]
                          [--prompt 120] [--new 48] [--repeat 3] [--no-trl]
                          [--torch-threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import emit, machine, timeit  # noqa: E402
from bench.grpo import matmul_params, matmul_timers  # noqa: E402
from jaxinterest.models.qwen2 import get_preset, init_params, save_hf  # noqa: E402
from jaxinterest.sampling import SamplingParams, bucket, generate  # noqa: E402
from jaxinterest.tokenizer import tiny_tokenizer  # noqa: E402
from jaxinterest.train import OptimConfig, create_state, make_optimizer, make_train_step  # noqa: E402
from jaxinterest.train.distill import distill_objective, student_logprob_fn  # noqa: E402
from jaxinterest.train.teacher import LocalTeacher  # noqa: E402


def prompts_of(vocab: int, n: int, length: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [list(map(int, rng.integers(10, vocab, length))) for _ in range(n)]


ESTIMATORS = ("exact", "sampled")


def update_flops(s_cfg, t_cfg, rows: int, seq: int, new: int, estimator: str) -> float:
    """Matmul FLOPs of one update: the student's decoder forward + backward over every token
    (6 N), its LM head over the `new` scored positions; for "exact" also the teacher's forward
    (2 N) there (for "sampled" the teacher ran in its own phase). Recomputation under
    jax.checkpoint and attention scores are not counted."""
    out = 0.0
    models = ((s_cfg, 6), (t_cfg, 2)) if estimator == "exact" else ((s_cfg, 6),)
    for cfg, mult in models:
        head = cfg.vocab_size * cfg.hidden_size
        out += mult * ((matmul_params(cfg) - head) * rows * seq + head * rows * new)
    return out


class Ours:
    """Our step, compiled on construction; `step(record=True)` times one more step by phase."""

    def __init__(self, args, s_cfg, t_cfg, s_params, t_params, prompts, estimator: str):
        w = args.new
        optimizer = make_optimizer(OptimConfig(lr=1e-5, warmup_steps=0, total_steps=1000))
        self.update = make_train_step(
            distill_objective(s_cfg, t_cfg, estimator=estimator, width=w), optimizer
        )
        self.teacher = LocalTeacher(t_cfg, t_params)
        self.old_logp = student_logprob_fn(s_cfg, width=w)
        self.sampling = SamplingParams(max_new_tokens=w, temperature=1.0)  # no stop: w tokens
        self.state = create_state(s_params, optimizer, jax.random.key(1))
        self.args, self.s_cfg, self.t_params, self.prompts = args, s_cfg, t_params, prompts
        self.estimator, self.calls = estimator, 0
        self.times = {"sample": [], "teacher": [], "update": []}
        t0 = time.perf_counter()
        self.batch = self.step(record=False)
        self.compile_s = time.perf_counter() - t0

    def step(self, record: bool = True):
        t0 = time.perf_counter()
        gen = generate(self.state.params, self.s_cfg, self.prompts, self.sampling,
                       key=jax.random.key(self.calls))  # fmt: skip
        self.calls += 1
        batch = gen.packed(self.prompts, 0, bucket(self.args.prompt))
        t1 = time.perf_counter()
        frozen = self.t_params
        if self.estimator == "sampled":
            batch["old_logp"] = np.asarray(self.old_logp(self.state.params, batch))
            batch["teacher_logp"] = self.teacher.token_logprobs(batch, self.args.new)
            frozen = None
        t2 = time.perf_counter()
        self.state, metrics = self.update(self.state, batch, frozen)
        jax.block_until_ready(metrics["loss"])
        t3 = time.perf_counter()
        if record:
            for k, v in zip(self.times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                self.times[k].append(v)
        return batch

    def result(self) -> dict:
        med = {k: float(np.median(v)) for k, v in self.times.items()}
        return {
            "estimator": self.estimator,
            "step_seconds": round(sum(med.values()), 3),
            "phase_seconds": {k: round(v, 3) for k, v in med.items()},
            "steps_timed": len(self.times["update"]),
            "first_step_seconds_with_compile": round(self.compile_s, 2),
            "rows": len(self.prompts),
            "seq": int(self.batch["tokens"].shape[1]),
        }


def trl_step(args, s_dir, t_dir, prompts, between=None) -> dict:
    """Median seconds per GKDTrainer step (after one warm-up step), from a trainer callback.
    `between()` runs after every TRL step, outside TRL's timed window (our steps, so that both
    sides are timed under the same machine load)."""
    import torch
    import transformers
    from datasets import Dataset
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    tokenizer = transformers.AutoTokenizer.from_pretrained(s_dir)
    student = transformers.AutoModelForCausalLM.from_pretrained(s_dir, dtype=torch.float32)
    teacher = transformers.AutoModelForCausalLM.from_pretrained(t_dir, dtype=torch.float32)
    rows = [
        {"prompt": "", "input_ids": p + [p[-1]], "completion_mask": [0] * len(p) + [1]}
        for p in prompts
    ]  # fmt: skip  (the one completion token is replaced on-policy)
    stamps: list[tuple[float, float]] = []

    class Clock(transformers.TrainerCallback):
        def on_step_begin(self, *a, **k):
            stamps.append((time.perf_counter(), 0.0))

        def on_step_end(self, *a, **k):
            stamps[-1] = (stamps[-1][0], time.perf_counter())
            if between is not None and len(stamps) > 1:
                between()

    with tempfile.TemporaryDirectory() as out:
        config = GKDConfig(
            output_dir=out, lmbda=1.0, beta=1.0, temperature=1.0, max_new_tokens=args.new,
            per_device_train_batch_size=len(prompts), gradient_accumulation_steps=1,
            max_steps=args.repeat + 1, learning_rate=1e-5, use_cpu=True, report_to="none",
            save_strategy="no", logging_steps=1000, dataloader_num_workers=0,
            max_length=args.prompt + args.new + 8, seed=0, gradient_checkpointing=False,
        )  # fmt: skip
        trainer = GKDTrainer(model=student, teacher_model=teacher, args=config,
                             train_dataset=Dataset.from_list(rows * (args.repeat + 2)),
                             processing_class=tokenizer, callbacks=[Clock()])  # fmt: skip
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its summary dict
            trainer.train()
    steps = [end - start for start, end in stamps]
    import trl

    return {
        "trl": trl.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "step_seconds": round(float(np.median(steps[1:])), 3),
        "first_step_seconds": round(steps[0], 2),
        "steps_timed": len(steps) - 1,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="tiny-21m")
    parser.add_argument("--student", default="tiny-5m")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--prompt", type=int, default=120)
    parser.add_argument("--new", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-trl", action="store_true")
    parser.add_argument(
        "--torch-threads", type=int, help="torch threads for TRL (default: torch's)"
    )
    args = parser.parse_args(argv)
    s_cfg, t_cfg = get_preset(args.student), get_preset(args.teacher)
    s_params = init_params(s_cfg, jax.random.key(0))
    t_params = init_params(t_cfg, jax.random.key(1))
    prompts = prompts_of(s_cfg.vocab_size, args.prompts, args.prompt)
    result = {
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "teacher": args.teacher, "student": args.student,
        "teacher_params": t_cfg.num_params, "student_params": s_cfg.num_params,
        "prompts": args.prompts, "prompt_tokens": args.prompt, "new_tokens": args.new,
    }  # fmt: skip
    ours = [Ours(args, s_cfg, t_cfg, s_params, t_params, prompts, e) for e in ESTIMATORS]
    trl_installed = not args.no_trl
    if trl_installed:
        try:
            import trl  # noqa: F401
        except ImportError:
            trl_installed = False
            result["trl"] = "not installed (pip install -e '.[bench]')"
    if trl_installed:
        with tempfile.TemporaryDirectory() as d:
            tok = tiny_tokenizer()
            save_hf(os.path.join(d, "s"), s_cfg, s_params, tokenizer=tok)
            save_hf(os.path.join(d, "t"), t_cfg, t_params, tokenizer=tok)
            result["trl"] = trl_step(args, os.path.join(d, "s"), os.path.join(d, "t"), prompts,
                                     between=lambda: [o.step() for o in ours])  # fmt: skip
    else:
        for _ in range(args.repeat):
            for o in ours:
                o.step()
    result["ours"] = [o.result() for o in ours]
    seq = args.prompt + args.new
    tokens = args.prompts * seq
    flops = {e: update_flops(s_cfg, t_cfg, args.prompts, seq, args.new, e) for e in ESTIMATORS}
    d, f, v = s_cfg.hidden_size, s_cfg.intermediate_size, s_cfg.vocab_size
    mm = matmul_timers([(tokens, d, v), (tokens, d, f), (1024, 1024, 1024)])
    peak = max(f / timeit(call, warmup=0, repeat=3) / 1e9 for f, call in mm.values())
    result["matmul_gflops_best"] = round(peak, 2)
    for r in result["ours"]:
        f = flops[r["estimator"]]
        r["update_gflop"] = round(f / 1e9, 2)
        r["update_fraction_of_matmul_rate"] = round(
            f / r["phase_seconds"]["update"] / 1e9 / peak, 3
        )
    if trl_installed:
        t = result["trl"]["step_seconds"]
        for r in result["ours"]:
            r["speedup_vs_trl"] = round(t / r["step_seconds"], 2)
        result["trl"]["fraction_of_matmul_rate"] = round(flops["exact"] / t / 1e9 / peak, 3)
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    emit({"bench": "distill_step", "jax": jax.__version__, "machine": machine(),
          "anchor": "TRL GKDTrainer(lmbda=1, beta=1); jnp float32 matmul rate",
          "result": result})  # fmt: skip


if __name__ == "__main__":
    main()
