"""The TRL anchor of `bench/grpo.py --part 2`: seconds per GRPOTrainer iteration, split into
rollout / reward / update, on the same weights, prompts, reward function, G and max new tokens.

TRL's `GRPOTrainer(loss_type="dr_grpo", scale_rewards="none", beta=0)` runs one iteration per
optimiser step when per_device_train_batch_size = prompts * G and gradient_accumulation_steps
= 1 (one generation batch, one update; `num_iterations` = our inner epochs). The phases come
from the trainer itself: a callback stamps each step, a subclass times
`_generate_and_score_completions` (generation + rewards + advantages, and the pi_old forward
when num_iterations > 1), and the reward function times its own calls.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time

import numpy as np


def trl_iterations(model_dir: str, texts: list[str], users: list[str], reward_fn, *, group: int,
                   new_tokens: int, inner_epochs: int, repeat: int, lr: float,
                   between=None) -> dict:  # fmt: skip
    """Median seconds per iteration and per phase over `repeat` iterations after one warm-up.

    texts: the prompts as text (their tokenization equals ours, checked by the caller);
    users: their users (a dataset column, so TRL hands it to the reward function);
    reward_fn(users, completions) -> list of floats (our reward model);
    between: called after each of TRL's iterations, outside its timed span (the caller runs
    its own iteration there, so that both sides see the same machine load)."""
    import torch
    import transformers
    import trl
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    stamps: list[list[float]] = []  # [step begin, step end]
    cpu: list[list[float]] = []  # the same in process CPU seconds (all threads)
    gen_s: list[float] = []
    gen_cpu: list[float] = []
    reward_s: list[float] = []

    class Clock(transformers.TrainerCallback):
        def on_step_begin(self, *a, **k):
            stamps.append([time.perf_counter(), 0.0])
            cpu.append([time.process_time(), 0.0])

        def on_step_end(self, *a, **k):
            stamps[-1][1] = time.perf_counter()
            cpu[-1][1] = time.process_time()
            if between is not None and len(stamps) % inner_epochs == 0:
                between()

    class Timed(GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            t0, c0 = time.perf_counter(), time.process_time()
            out = super()._generate_and_score_completions(inputs)
            gen_s.append(time.perf_counter() - t0)
            gen_cpu.append(time.process_time() - c0)
            return out

    def reward(prompts, completions, user_id, **kw):
        t0 = time.perf_counter()
        out = reward_fn(list(user_id), list(completions))
        reward_s.append(time.perf_counter() - t0)
        return out

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    rows = [{"prompt": t, "user_id": u} for t, u in zip(texts, users, strict=True)]
    iterations = repeat + 1
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out, loss_type="dr_grpo", scale_rewards="none", beta=0.0, epsilon=0.2,
            num_generations=group, max_completion_length=new_tokens, temperature=1.0,
            top_p=1.0, top_k=0, num_iterations=inner_epochs,
            per_device_train_batch_size=len(texts) * group, gradient_accumulation_steps=1,
            max_steps=iterations * inner_epochs, learning_rate=lr, use_cpu=True,
            report_to="none", save_strategy="no", logging_steps=10_000,
            dataloader_num_workers=0, seed=0, gradient_checkpointing=False, bf16=False,
        )  # fmt: skip
        trainer = Timed(model=model, reward_funcs=[reward], args=config,
                        train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                        callbacks=[Clock()])  # fmt: skip
        with contextlib.redirect_stdout(sys.stderr):  # its end-of-training log dict, off the JSON
            trainer.train()
    if len(gen_s) != iterations or len(reward_s) != iterations:
        raise RuntimeError(
            f"TRL generated {len(gen_s)} times and rewarded {len(reward_s)} times in "
            f"{len(stamps)} steps; expected {iterations} of each (one generation per iteration)"
        )
    steps = np.array([end - start for start, end in stamps]).reshape(iterations, inner_epochs)
    total = steps.sum(axis=1)
    cpu_total = np.array([end - start for start, end in cpu]).reshape(iterations, -1).sum(axis=1)
    rollout = np.array(gen_s) - np.array(reward_s)
    update = total - np.array(gen_s)
    return {
        "trl": trl.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "iteration_seconds": round(float(np.median(total[1:])), 3),
        "phase_seconds": {
            "rollout": round(float(np.median(rollout[1:])), 3),
            "reward": round(float(np.median(reward_s[1:])), 3),
            "update": round(float(np.median(update[1:])), 3),
        },
        "iteration_seconds_each": [round(float(x), 2) for x in total],
        "iteration_cpu_seconds": round(float(np.median(cpu_total[1:])), 3),
        # generation = rollout + reward; update = the rest of the step
        "phase_cpu_seconds": {
            "generation": round(float(np.median(gen_cpu[1:])), 3),
            "update": round(float(np.median((cpu_total - np.array(gen_cpu))[1:])), 3),
        },
        "first_iteration_seconds": round(float(total[0]), 2),
        "iterations_timed": repeat,
    }
