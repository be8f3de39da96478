"""The SFT warm start of the tiny family (real instruct checkpoints skip it by default).

Two stages, each one `train.step` update per batch, AdamW with warmup + cosine:

1. pretrain: next-token prediction over the training-window articles (`examples.lm_chunks`),
   so a randomly initialised model learns the world's words and names;
2. instruct: (prompt -> weak query list) pairs (`examples.instruction_examples`), loss on the
   answer tokens only (the LM head runs on the answer columns only, `completion_width`).

`run_sft` writes, under `out`: config.json (the resolved config), pretrained/ (when pretraining
ran) and policy/ (HF directories with the tokenizer; `load_policy` reads them), metrics.jsonl
(one line per update: stage, loss, grad_norm, lr; tokens/s every 10 updates) and report.json
(validation metrics on the held-out last week of the training window: the weak labeller's own
lists, the SFT policy's greedy lists and the own-searches / recent-behaviours references).
policy/prompt.json records the PromptConfig, which `jaxinterest grpo` then uses by default. A
rerun skips the stages whose output exists.

A real instruct checkpoint (SmolLM2) can start it too, with no pretraining: the instruction
stage then teaches it the answer format (`Recipe.sft_pretrained`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Literal

import jax
import numpy as np

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.train.optim import OptimConfig, make_optimizer, make_schedule
from jaxinterest.train.weak_labels import LabelConfig

TINY_SYSTEM_PROMPT = "You write news search queries for a user."


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """steps: updates; batch_size: rows per update; micro_batches: gradient accumulation."""

    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 10
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    micro_batches: int = 1

    def optim(self) -> OptimConfig:
        return OptimConfig(
            lr=self.lr,
            warmup_steps=min(self.warmup_steps, max(self.steps - 1, 0)),  # >= 1 decay step
            total_steps=max(self.steps, 1),
            weight_decay=self.weight_decay,
            clip_norm=self.clip_norm,
        )


@dataclasses.dataclass(frozen=True)
class SFTConfig:
    """world: world directory; keep_file: keep.parquet of `clean --apply` (None: no cleaning);
    policy: `load_policy` spec to start from; cut_days: history cuts of the instruction
    examples (days before the end of the training window); seq_len: pretraining row length;
    max_new_tokens: the answer budget (longer targets are dropped and counted);
    validation_days: the held-out last days of the training window (`holdout_world`);
    pretrain_corpus: what pretraining reads: "articles" (training-window titles and abstracts),
    "histories" (the training users' rendered prompts at every `history_cut_days` cut, where a
    user's phrases recur, so that the model learns to copy from its context) or "both";
    validation_users: the report scores a seeded subset of this many held-out users (0: all;
    a 135M model's greedy answers cost seconds each on a CPU)."""

    world: str = ""
    out: str = "runs/sft"
    keep_file: str | None = None
    policy: str = "preset:tiny-2m"
    seed: int = 0
    seq_len: int = 128
    max_new_tokens: int = 48
    cut_days: tuple[int, ...] = (0, 4, 8, 12)
    validation_days: int = 7
    pretrain_corpus: Literal["articles", "histories", "both"] = "articles"
    validation_users: int = 0
    history_cut_days: tuple[int, ...] = (0, 2, 4, 6, 8, 10, 12, 14, 16, 18)
    prompt: PromptConfig = PromptConfig(max_prompt_tokens=320, system_prompt=TINY_SYSTEM_PROMPT)
    labels: LabelConfig = LabelConfig()
    pretrain: StageConfig = StageConfig(steps=100, lr=3e-3)
    instruct: StageConfig = StageConfig(steps=200, lr=1e-3)

    def __post_init__(self):
        if self.labels.n_queries != self.prompt.n_queries:
            raise ValueError(
                f"labels.n_queries={self.labels.n_queries} differs from prompt.n_queries="
                f"{self.prompt.n_queries}"
            )


def fit(params, objective, batches, stage: StageConfig, *, seed: int, writer, name: str,
        progress: bool = True):  # fmt: skip
    """`stage.steps` updates of `objective` from `params` over `batches(step) -> dict`;
    returns the new params. One metrics line per update (stage `name`)."""
    from tqdm import tqdm

    from jaxinterest.train.state import create_state
    from jaxinterest.train.step import make_train_step

    optim = stage.optim()
    optimizer = make_optimizer(optim)
    state = create_state(params, optimizer, jax.random.key(seed))
    step = make_train_step(
        objective, optimizer, micro_batches=stage.micro_batches, schedule=make_schedule(optim)
    )
    bar = tqdm(range(stage.steps), desc=name, unit="step", disable=not progress)
    tokens, t0 = 0, time.perf_counter()
    for i in bar:
        batch = batches(i)
        state, metrics = step(state, batch)
        tokens += int(np.asarray(batch["attention_mask"]).sum())
        row = {"stage": name, **metrics}
        if i % 10 == 9 or i == stage.steps - 1:
            # a sync point every 10 updates: throughput over the window (dispatch is async)
            loss = float(metrics["loss"])
            now = time.perf_counter()
            row["tokens_per_s"] = tokens / (now - t0)
            tokens, t0 = 0, now
            bar.set_postfix(loss=f"{loss:.3f}")
        writer.add(i, row)
    writer.flush()
    return state.params


def _epochs(n: int, batch_size: int, seed: int):
    """Row indices of update i: seeded shuffled epochs over n rows, batch_size each."""
    if n < batch_size:
        raise ValueError(f"{n} training rows are fewer than one batch of {batch_size}")
    per = n // batch_size
    cache: dict[int, np.ndarray] = {}

    def rows(i: int) -> np.ndarray:
        e = i // per
        if e not in cache:
            cache[e] = np.random.default_rng([seed, e]).permutation(n)
        return cache[e][(i % per) * batch_size : (i % per + 1) * batch_size]

    return rows


def lm_batches(chunks: np.ndarray, batch_size: int, seed: int):
    rows = _epochs(len(chunks), batch_size, seed)

    def batch(i):
        x = chunks[rows(i)]
        mask = np.ones_like(x, bool)
        target = mask.copy()
        target[:, 0] = False  # the first token has no context
        return {"tokens": x, "attention_mask": mask, "completion_mask": target}

    return batch


def instruct_batches(packed: dict, batch_size: int, seed: int):
    n = len(packed["tokens"])
    rows = _epochs(n, batch_size, seed)
    return lambda i: {k: v[rows(i)] for k, v in packed.items()}


def run_sft(cfg: SFTConfig, *, progress: bool = True) -> dict:
    """Both stages and the validation report (module docstring). Returns the report."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.config import save_config
    from jaxinterest.data.io import load_world
    from jaxinterest.sampling import pack
    from jaxinterest.train import examples as ex
    from jaxinterest.train.metrics import MetricsWriter
    from jaxinterest.train.objectives import sft_objective
    from jaxinterest.train.policy import load_policy, save_policy
    from jaxinterest.train.queries import save_prompt

    if not cfg.world:
        raise ValueError("SFTConfig.world is empty: give the world directory")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    world = load_world(cfg.world, parts=("news", "events", "users"))
    clean_fn = KeepLookup(pq.read_table(cfg.keep_file)) if cfg.keep_file else None
    if not (out / "policy" / "config.json").exists():
        # an interrupted stage restarts: drop its lines (and everything, before pretraining)
        keep = ("pretrain",) if (out / "pretrained" / "config.json").exists() else ()
        _drop_metrics(out / "metrics.jsonl", keep)
    writer = MetricsWriter(out / "metrics.jsonl", log_every=10)
    info: dict = {}
    if (out / "policy" / "config.json").exists():
        policy = load_policy(str(out / "policy"))
    else:
        if (out / "pretrained" / "config.json").exists():
            policy = load_policy(str(out / "pretrained"))
        else:
            policy = load_policy(cfg.policy, seed=cfg.seed, cache_dir=out)
            if cfg.pretrain.steps > 0:
                texts = ex.lm_corpus(world) if cfg.pretrain_corpus != "histories" else []
                extra = []
                if cfg.pretrain_corpus != "articles":
                    extra = ex.history_ids(
                        world, policy.tokenizer, cfg.prompt, clean_fn=clean_fn,
                        cut_days=cfg.history_cut_days,
                    )  # fmt: skip
                chunks = ex.lm_chunks(texts, policy.tokenizer, cfg.seq_len, policy.pad_id,
                                      extra_ids=extra)  # fmt: skip
                info["pretrain_rows"] = len(chunks)
                params = fit(policy.params, sft_objective(policy.cfg),
                             lm_batches(chunks, cfg.pretrain.batch_size, cfg.seed),
                             cfg.pretrain, seed=cfg.seed, writer=writer, name="pretrain",
                             progress=progress)  # fmt: skip
                policy = policy.with_params(params)
                save_policy(policy, out / "pretrained")
        examples, _ = ex.instruction_examples(
            world, policy.tokenizer, cfg.prompt, cfg.labels, eos_id=policy.eos_id,
            clean_fn=clean_fn, cut_days=cfg.cut_days, progress=progress,
        )  # fmt: skip
        fits = [e for e in examples if len(e.target) <= cfg.max_new_tokens]
        if len(fits) < cfg.instruct.batch_size:
            raise ValueError(
                f"{len(fits)} of {len(examples)} instruction targets fit max_new_tokens="
                f"{cfg.max_new_tokens}, fewer than one batch of {cfg.instruct.batch_size}: "
                "raise max_new_tokens (weak lists of 5 queries take ~30-45 tokens)"
            )
        info.update(instruct_examples=len(fits), targets_too_long=len(examples) - len(fits))
        packed = pack([e.prompt for e in fits], [e.target for e in fits], policy.pad_id,
                      cfg.prompt.max_prompt_tokens, cfg.max_new_tokens)  # fmt: skip
        obj = sft_objective(policy.cfg, completion_width=cfg.max_new_tokens)
        params = fit(policy.params, obj, instruct_batches(packed, cfg.instruct.batch_size,
                     cfg.seed), cfg.instruct, seed=cfg.seed + 1, writer=writer,
                     name="instruct", progress=progress)  # fmt: skip
        policy = policy.with_params(params)
        save_policy(policy, out / "policy")
        save_prompt(out / "policy", cfg.prompt)
    writer.close()
    report_path = out / "report.json"
    if report_path.exists():
        return json.loads(report_path.read_text())
    report = {"info": info, **validation_report(cfg, world, policy, clean_fn, progress)}
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _drop_metrics(path: Path, keep_stages: tuple[str, ...]) -> None:
    """Keeps only the lines of finished stages in an SFT metrics file."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    kept = [ln for ln in lines if json.loads(ln).get("stage") in keep_stages]
    path.write_text("".join(ln + "\n" for ln in kept))


def validation_report(cfg: SFTConfig, world, policy, clean_fn, progress: bool) -> dict:
    """R@10 / N@10 / MRR on the held-out validation window: weak labels, the policy, and the
    own-searches / recent-behaviours references with the same number of queries."""
    from jaxinterest.data.subset import user_subset
    from jaxinterest.eval import EvalConfig, evaluate_queries
    from jaxinterest.eval.recommend import build_test_index
    from jaxinterest.eval.reference import own_searches, recent_behaviours
    from jaxinterest.rewards.view import ViewBuilder
    from jaxinterest.train.examples import label_stats
    from jaxinterest.train.queries import evaluate_policy
    from jaxinterest.train.validation import holdout_world
    from jaxinterest.train.weak_labels import label

    val = user_subset(holdout_world(world, cfg.validation_days), cfg.validation_users, cfg.seed)
    ecfg = EvalConfig()
    index = build_test_index(val, ecfg)
    stats = label_stats(world, policy.tokenizer, cfg.prompt, cfg.labels, clean_fn)
    views = ViewBuilder(val, clean_fn, policy.tokenizer, cfg.prompt)
    users = val.users.column("user_id").to_pylist()
    keep = clean_fn(val.events) if clean_fn is not None else None
    n = cfg.prompt.n_queries
    sources = {
        "weak_labels": {u: label(views.view(u), stats, cfg.labels) for u in users},
        "own_searches": own_searches(val, n, keep),
        "recent_behaviours": recent_behaviours(val, n, keep),
    }
    out = {"holdout": val.meta["holdout"], "users_scored": val.users.num_rows}
    scored = set(users)  # the references list every user with events; score the chosen ones
    for name, queries in sources.items():
        queries = {u: q for u, q in queries.items() if u in scored}
        rep, _ = evaluate_queries(val, queries, ecfg, index=index)
        out[name] = summary(rep)
    rep, _ = evaluate_policy(
        policy, val, cfg.prompt, ecfg, index=index, clean_fn=clean_fn,
        max_new_tokens=cfg.max_new_tokens, progress=progress,
    )  # fmt: skip
    out["sft_policy"] = summary(rep) | rep["answers"]
    return out


def summary(report: dict) -> dict:
    """R@10, N@10 and MRR for all and cold users of an `evaluate_queries` report."""
    return {c: {m: report[c][m] for m in ("recall@10", "ndcg@10", "mrr")} for c in ("all", "cold")}
