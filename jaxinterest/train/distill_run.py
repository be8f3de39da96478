"""The distillation recipe: `run_distill(DistillConfig)`, the loop of `jaxinterest distill`.

Per step: a Grain batch of training users -> their prompts -> `samples` lists each from the
sampler -> one packed batch -> one update (`train.make_train_step`). Two methods, one loop and
one budget (steps x users x samples), so Table 3's rows differ only in what they learn from:

  on_policy   the STUDENT samples; the teacher scores the student's own prefixes; the update is
              `distill.distill_objective` (estimator "exact": full-vocabulary reverse KL, the
              teacher's params passed as the step's `frozen`; "sampled": per-token advantage
              -(log pi_s - log pi_t) with the teacher's log-probs from `teacher.token_logprobs`,
              local or over HTTP).
  supervised  sequence-level KD: the TEACHER samples and the student is fine-tuned on those
              lists (`objectives.sft_objective`).

  grpo        Table 3's "no distillation" row: the student trained with Dr.GRPO on the same
              budget, no teacher (`train.distill_grpo`, which runs `train.loop.run_grpo`).

Each step's sampling key is fold_in(key(seed), step), the update's RNG is the state's, and the
Grain iterator's position is checkpointed with the state, so a resumed run is bitwise the
uninterrupted one. Output directory (method grpo: see `train.distill_grpo`):

  config.json     the resolved config (a rerun with another config into the same out is refused)
  metrics.jsonl   one line per step: loss, teacher_kl, grad_norm, lr, completion length,
                  parse-valid share, seconds per phase, sampled tokens/s; val_* at validations
  checkpoints/    Orbax (state, Grain iterator state, config); keep-last-N
  policy/         the distilled student (HF directory with its tokenizer)
  report.json     validation metrics of the teacher and the student before and after, and the
                  share of the teacher-student gap closed
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.train.optim import OptimConfig

METHODS = ("on_policy", "supervised", "grpo")
# The SFT warm start's prompt (train/sft.py): a policy must see the prompt it was trained on.
DEFAULT_PROMPT = PromptConfig(
    max_prompt_tokens=320, system_prompt="You write news search queries for a user."
)


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """teacher: a checkpoint directory / "preset:NAME" / "smollm2", or an http(s) URL of a
    log-prob server (on_policy with estimator "sampled" only; method grpo only validates it,
    for the gap closed, and may leave it empty); student: a checkpoint directory
    or policy spec; batch_size: users per step; samples: lists per user per step; eval_every:
    validation cadence in steps (0: only before and after); validation_days: see
    `validation.holdout_world`; validation_samples = k > 0 validates on k answers per user
    sampled at validation_temperature (None: `temperature`) instead of the greedy one
    (`distill_eval.Validator`)."""

    world: str = ""
    out: str = "runs/distill"
    teacher: str = ""
    student: str = ""
    keep_file: str | None = None
    method: str = "on_policy"
    estimator: str = "exact"
    teacher_dtype: str = "float32"
    seed: int = 0
    steps: int = 100
    batch_size: int = 8
    samples: int = 2
    max_new_tokens: int = 48
    temperature: float = 1.0
    chunk: int = 16
    micro_batches: int = 1
    optim: OptimConfig = OptimConfig(lr=3e-4, warmup_steps=5, total_steps=100)
    prompt: PromptConfig = DEFAULT_PROMPT
    log_every: int = 5
    eval_every: int = 0
    checkpoint_every: int = 10
    keep_last: int = 2
    validation_days: int = 7
    validate: bool = True
    validation_samples: int = 0
    validation_temperature: float | None = None

    def validation_temperature_or_default(self) -> float:
        t = self.validation_temperature
        return self.temperature if t is None else t

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if min(self.steps, self.batch_size, self.samples, self.checkpoint_every) < 1:
            raise ValueError("steps, batch_size, samples and checkpoint_every must be >= 1")
        if self.validation_samples < 0:
            raise ValueError(f"validation_samples must be >= 0, got {self.validation_samples}")
        if self.validation_temperature is not None and self.validation_temperature <= 0:
            raise ValueError("validation_temperature must be > 0 (validation_samples = 0 is the "
                             f"greedy answer), got {self.validation_temperature}")  # fmt: skip
        if (self.batch_size * self.samples) % self.micro_batches:
            raise ValueError(
                f"batch_size x samples = {self.batch_size * self.samples} rows do not split "
                f"into {self.micro_batches} micro-batches"
            )
        remote = self.teacher.startswith(("http://", "https://"))
        scores_only = self.method == "on_policy" and self.estimator == "sampled"
        if remote and self.method != "grpo" and not scores_only:
            raise ValueError("a remote teacher serves log-probs only: use method on_policy "
                             "with estimator sampled")  # fmt: skip


def rollout(params, model_cfg, prompts, cfg: DistillConfig, key, pad_id, stop_ids, tokenizer):
    """Samples `cfg.samples` lists per prompt from (params, model_cfg): (packed batch with
    completion width max_new_tokens, host metrics)."""
    from jaxinterest.data.answer import parse_queries
    from jaxinterest.sampling import SamplingParams, bucket, generate

    sampling = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                              stop_ids=stop_ids, num_samples=cfg.samples)  # fmt: skip
    t0 = time.perf_counter()
    gen = generate(params, model_cfg, prompts, sampling, key=key, pad_id=pad_id)
    seconds = time.perf_counter() - t0
    batch = gen.packed(prompts, pad_id, bucket(max(len(p) for p in prompts)))
    n = cfg.prompt.n_queries
    valid = [parse_queries(t, n_max=n, n_exact=n).valid for t in gen.texts(tokenizer)]
    return batch, {
        "completion_len": float(gen.lengths.mean()),
        "finished_share": float(gen.finished.mean()),
        "valid_share": float(np.mean(valid)),
        "s_sample": seconds,
        "sample_tokens_per_s": float(gen.lengths.sum() / max(seconds, 1e-9)),
    }


def check_out(out: Path, cfg: DistillConfig) -> None:
    from jaxinterest.config import save_config, to_dict

    path = out / "config.json"
    if path.is_file():
        old, new = json.loads(path.read_text()), json.loads(json.dumps(to_dict(cfg)))
        if old != new:
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise ValueError(f"{out} holds a run with another config ({', '.join(diff)}); "
                             "use another out")  # fmt: skip
    save_config(cfg, path)


def _models(cfg: DistillConfig):
    """(student Policy, teacher, teacher Policy or None)."""
    from jaxinterest.train.policy import Policy, load_policy
    from jaxinterest.train.teacher import LocalTeacher, load_teacher

    student = load_policy(cfg.student, seed=cfg.seed)
    teacher, t_tok = load_teacher(cfg.teacher, dtype=cfg.teacher_dtype, chunk=cfg.chunk,
                                  seed=cfg.seed + 1)  # fmt: skip
    if not isinstance(teacher, LocalTeacher):
        return student, teacher, None
    if teacher.cfg.vocab_size != student.cfg.vocab_size or (
        t_tok.get_vocab() != student.tokenizer.get_vocab()
    ):
        raise ValueError(f"teacher {cfg.teacher} and student {cfg.student} do not share a "
                         "tokenizer; distillation compares their token distributions")  # fmt: skip
    return student, teacher, Policy(teacher.cfg, teacher.params, t_tok, cfg.teacher)


def run_distill(cfg: DistillConfig, *, progress: bool = True) -> dict:
    """The loop (module docstring); method grpo runs `distill_grpo.run_no_distill`. Returns
    the report."""
    if cfg.method == "grpo":
        from jaxinterest.train.distill_grpo import run_no_distill

        return run_no_distill(cfg, progress=progress)
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.io import load_world
    from jaxinterest.data.pipeline import PipelineConfig, UserSource, build_dataset
    from jaxinterest.train import distill
    from jaxinterest.train.checkpoint import Checkpointer
    from jaxinterest.train.distill_eval import Validator
    from jaxinterest.train.metrics import MetricsWriter
    from jaxinterest.train.objectives import sft_objective
    from jaxinterest.train.optim import make_optimizer, make_schedule
    from jaxinterest.train.policy import save_policy
    from jaxinterest.train.state import abstract_state, create_state
    from jaxinterest.train.step import make_train_step

    if not cfg.world or not cfg.teacher or not cfg.student:
        raise ValueError("DistillConfig needs world, teacher and student")
    out = Path(cfg.out)
    check_out(out, cfg)
    world = load_world(cfg.world, parts=("news", "events", "users"))
    clean_fn = KeepLookup(pq.read_table(cfg.keep_file)) if cfg.keep_file else None
    student, teacher, teacher_policy = _models(cfg)
    w = cfg.max_new_tokens
    if cfg.method == "supervised":
        objective = sft_objective(student.cfg, completion_width=w)
    else:
        objective = distill.distill_objective(
            student.cfg, getattr(teacher, "cfg", None), estimator=cfg.estimator, width=w,
            chunk=cfg.chunk,
        )  # fmt: skip
    frozen = teacher.params if cfg.method == "on_policy" and cfg.estimator == "exact" else None
    old_logp = distill.student_logprob_fn(student.cfg, width=w, chunk=cfg.chunk)
    optimizer = make_optimizer(cfg.optim)
    step_fn = make_train_step(objective, optimizer, micro_batches=cfg.micro_batches,
                              schedule=make_schedule(cfg.optim))  # fmt: skip
    data = build_dataset(
        UserSource(world, split="train"), student.tokenizer, cfg.prompt,
        PipelineConfig(batch_size=cfg.batch_size, seed=cfg.seed, split="train", num_epochs=None,
                       shard_index=0, shard_count=1), clean_fn,
    )  # fmt: skip
    it = iter(data)
    ckpt = Checkpointer(out / "checkpoints", keep_last=cfg.keep_last)
    state = create_state(student.params, optimizer, jax.random.key(cfg.seed))
    start = ckpt.latest_step() or 0
    if start:
        restored = ckpt.restore(abstract_state(student.params, optimizer))
        state = restored.state
        it.set_state(restored.data_state)
    writer = MetricsWriter(out / "metrics.jsonl", log_every=cfg.log_every,
                           tensorboard=out / "tb", resume_step=start)  # fmt: skip
    validator = None
    if cfg.validate:
        validator = Validator(world, cfg.prompt, clean_fn=clean_fn, days=cfg.validation_days,
                              tokenizer=student.tokenizer, max_new_tokens=w,
                              samples=cfg.validation_samples,
                              temperature=cfg.validation_temperature_or_default(),
                              seed=cfg.seed)  # fmt: skip
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if validator is not None and "start" not in report:
        report["start"] = {"student": validator(student)}
        if teacher_policy is not None:
            report["start"]["teacher"] = validator(teacher_policy)
        report_path.write_text(json.dumps(report, indent=2) + "\n")

    sampler = teacher_policy if cfg.method == "supervised" else None
    root = jax.random.key(cfg.seed)
    bar = tqdm(range(start, cfg.steps), desc=f"distill ({cfg.method})", unit="step",
               initial=start, total=cfg.steps, disable=not progress)  # fmt: skip
    for s in bar:
        users = next(it)
        prompts = [row[len(row) - int(n) :].tolist()
                   for row, n in zip(users["input_ids"], users["length"], strict=True)]  # fmt: skip
        src = sampler or student.with_params(state.params)
        batch, info = rollout(src.params, src.cfg, prompts, cfg, jax.random.fold_in(root, s),
                              student.pad_id, student.stop_ids, student.tokenizer)  # fmt: skip
        t0 = time.perf_counter()
        if cfg.method == "on_policy" and cfg.estimator == "sampled":
            batch["old_logp"] = np.asarray(old_logp(state.params, batch))
            batch["teacher_logp"] = teacher.token_logprobs(batch, w)
        info["s_teacher"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        state, metrics = step_fn(state, batch, frozen)
        jax.block_until_ready(metrics["loss"])
        info["s_update"] = time.perf_counter() - t0
        row = {**metrics, **info}
        if validator is not None and cfg.eval_every and (s + 1) % cfg.eval_every == 0:
            row.update(validator(student.with_params(state.params)))
        writer.add(s + 1, row)
        if (s + 1) % cfg.checkpoint_every == 0 or s + 1 == cfg.steps:
            ckpt.save(state, data_state=it.get_state(), config=cfg)
    writer.close()
    ckpt.wait()
    ckpt.close()
    final = student.with_params(state.params)
    save_policy(final, out / "policy")
    if validator is not None:
        report["end"] = {"student": validator(final)}
        report["gap_closed"] = gap_closed(report)
    report["steps"] = cfg.steps
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def gap_closed(report: dict) -> dict:
    """Per metric: (student after - student before) / (teacher - student before), where the
    teacher was validated (None when the gap is 0 or unknown)."""
    start, end = report.get("start", {}), report.get("end", {})
    if "teacher" not in start or "student" not in end:
        return {}
    out = {}
    for m in ("val_recall@10", "val_ndcg@10", "val_mrr", "val_reward"):
        t, s0, s1 = start["teacher"][m], start["student"][m], end["student"][m]
        gap = None if None in (t, s0, s1) else t - s0
        out[m] = None if not gap else (s1 - s0) / gap
    return out
