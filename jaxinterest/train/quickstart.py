"""The quickstart pipeline: tiny world -> noise cleaning -> SFT -> Dr.GRPO -> test-week table.

Run directory (`QuickstartConfig.out`):
  world/             the synthetic world (`jaxinterest world --preset tiny`)
  clean_model/, clean/keep.parquet
                     the hashed n-gram noise classifier (trained on the training users' noise
                     labels) and its keep mask over every event; the encoder classifier cleans
                     better (docs/cleaning.md) but its fine-tuning alone would exceed the budget
  sft/               `jaxinterest sft`: pretraining + weak-label instruction tuning (+ report)
  grpo/              `jaxinterest grpo` from sft/policy (metrics, checkpoints, policy/, best/)
  distill/           `jaxinterest distill`: the GRPO policy distilled on-policy into the SFT
                     policy (train/quickstart_distill.py)
  evaluation.json    test week, all and cold users: popularity, own searches and every
                     stage's policy (R@10, N@10, MRR); table.md is the same as a table
  stages.json        per finished stage: its result (e.g. the policy it wrote), wall and CPU
                     seconds, the load average when it ended

Stages are a list (`STAGES`) of (name, function); each function takes the `Context` and returns
a JSON-able dict. A stage recorded in stages.json is skipped on a rerun, so an interrupted run
continues where it stopped (GRPO from its latest checkpoint). A stage whose result holds
"policy" (an HF directory) and "label" gets a row in the evaluation table: a later issue adds
its stage (e.g. distillation) with `add_stage` and its policy joins the table. The test week
(test_clicks.parquet) is read only by the "evaluate" stage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from jaxinterest.data.prompts import PromptConfig
from jaxinterest.train.grpo import GRPOConfig
from jaxinterest.train.optim import OptimConfig
from jaxinterest.train.quickstart_distill import stage_distill
from jaxinterest.train.sft import TINY_SYSTEM_PROMPT, SFTConfig, StageConfig

PROMPT = PromptConfig(max_prompt_tokens=256, system_prompt=TINY_SYSTEM_PROMPT)
MAX_NEW_TOKENS = 48


@dataclasses.dataclass(frozen=True)
class QuickstartConfig:
    """out: run directory; world_preset / world_seed / world_users (0: the preset's count): the
    world generated into out/world;
    clean: train and apply the n-gram noise classifier (False: raw behaviours); distill_steps:
    on-policy distillation updates of the GRPO policy into the SFT policy, at distill_lr. sft
    and grpo: the two recipes; their world, out, keep_file and policy fields are filled in by
    the pipeline, and grpo uses sft's prompt (the one the policy was tuned on)."""

    out: str = "runs/quickstart"
    world_preset: str = "tiny"
    world_seed: int = 0
    world_users: int = 0
    clean: bool = True
    # tiny-2m, not tiny-1m: copying a user's phrases from the prompt needs two attention
    # layers (a one-layer policy writes the same frequent phrases for every user), and it
    # appears after a few hundred instruction steps over many history cuts (docs/training.md,
    # "Policies that read their prompt").
    sft: SFTConfig = SFTConfig(
        policy="preset:tiny-2m",
        max_new_tokens=MAX_NEW_TOKENS,
        cut_days=tuple(range(15)),
        prompt=PROMPT,
        pretrain_corpus="histories",
        pretrain=StageConfig(steps=60, batch_size=16, lr=3e-3, warmup_steps=5),
        instruct=StageConfig(steps=320, batch_size=16, lr=2e-3, warmup_steps=30),
    )
    distill_steps: int = 6
    distill_lr: float = 3e-4
    # the table also scores this many answers per user sampled at temperature 1 (the lists GRPO
    # trains on; `queries.evaluate_sampled`); 0 = greedy answers only
    answer_samples: int = 2
    grpo: GRPOConfig = GRPOConfig(
        steps=10,
        prompts_per_step=8,
        group_size=4,
        max_new_tokens=MAX_NEW_TOKENS,
        inner_epochs=1,
        optim=OptimConfig(lr=3e-4, warmup_steps=0, total_steps=10),
        eval_every=4,
        checkpoint_every=2,
        prompt=PROMPT,
    )


@dataclasses.dataclass
class Context:
    """What stages share: the config, the run directory, earlier stages' results."""

    cfg: QuickstartConfig
    out: Path
    results: dict
    progress: bool = True

    @property
    def world(self) -> str:
        return str(self.out / "world")

    @property
    def keep_file(self) -> str | None:
        return str(self.out / "clean" / "keep.parquet") if self.cfg.clean else None


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Context], dict]


def stage_world(ctx: Context) -> dict:
    from jaxinterest.data.world import generate_world, make_config

    meta = generate_world(
        make_config(ctx.cfg.world_preset, seed=ctx.cfg.world_seed,
                    n_users=ctx.cfg.world_users or None),
        ctx.world, progress=ctx.progress,
    )  # fmt: skip
    return {"dir": ctx.world, "users": meta.get("n_users"), "news": meta.get("n_news")}


def stage_clean(ctx: Context) -> dict:
    if not ctx.cfg.clean:
        return {"skipped": "clean = false"}
    from jaxinterest.cli import build_parser
    from jaxinterest.commands import clean

    model = str(ctx.out / "clean_model")
    parser = build_parser()
    train = parser.parse_args(["clean", "--train", ctx.world, "--out", model, "--model",
                               "ngram", "--splits", "none"])  # fmt: skip
    trained = clean.train(train)
    apply = parser.parse_args(["clean", "--apply", model, "--world", ctx.world, "--out",
                               str(ctx.out / "clean")])  # fmt: skip
    applied = clean.apply(apply)
    return {"keep_file": ctx.keep_file, "threshold": trained["saved"].get("threshold"),
            "kept_share": applied["kept_share"]}  # fmt: skip


def sft_config(ctx: Context) -> SFTConfig:
    return dataclasses.replace(ctx.cfg.sft, world=ctx.world, out=str(ctx.out / "sft"),
                               keep_file=ctx.keep_file)  # fmt: skip


def stage_sft(ctx: Context) -> dict:
    from jaxinterest.train.sft import run_sft

    report = run_sft(sft_config(ctx), progress=ctx.progress)
    return {"policy": str(ctx.out / "sft" / "policy"), "label": "SFT policy",
            "validation": report["sft_policy"]}  # fmt: skip


def grpo_config(ctx: Context) -> GRPOConfig:
    sft = sft_config(ctx)
    return dataclasses.replace(
        ctx.cfg.grpo, world=ctx.world, out=str(ctx.out / "grpo"), keep_file=ctx.keep_file,
        policy=str(Path(sft.out) / "policy"), prompt=sft.prompt,
    )  # fmt: skip


def stage_grpo(ctx: Context) -> dict:
    from jaxinterest.train.checkpoint import Checkpointer
    from jaxinterest.train.loop import run_grpo

    cfg = grpo_config(ctx)
    ckpt_dir = Path(cfg.out) / "checkpoints"
    resume = False
    if ckpt_dir.exists():
        with Checkpointer(ckpt_dir, keep_last=cfg.keep_last) as ckpt:
            resume = ckpt.latest_step() is not None
    summary = run_grpo(cfg, resume=resume, progress=ctx.progress)
    policy = summary["best_policy"] or summary["policy"]
    return {"policy": policy, "label": "GRPO policy", "summary": summary}


def stage_evaluate(ctx: Context) -> dict:
    """The test week: popularity and own searches (both after cleaning, when on), then every
    earlier stage's policy, greedy answers on the prompt it was trained with."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.io import load_world
    from jaxinterest.eval import EvalConfig, build_test_index, evaluate_queries
    from jaxinterest.eval.reference import own_searches, popularity
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import evaluate_policy, evaluate_sampled, policy_prompt
    from jaxinterest.train.sft import summary

    world = load_world(ctx.world)
    ecfg = EvalConfig()
    index = build_test_index(world, ecfg, progress=ctx.progress)
    clean_fn = KeepLookup(pq.read_table(ctx.keep_file)) if ctx.keep_file else None
    keep = clean_fn(world.events) if clean_fn is not None else None
    n = ctx.cfg.sft.prompt.n_queries
    rows = {}
    for label, queries in (("popularity", popularity(world, n)),
                           ("own searches", own_searches(world, n, keep))):  # fmt: skip
        rep, _ = evaluate_queries(world, queries, ecfg, index=index)
        rows[label] = summary(rep)
    for name, result in ctx.results.items():
        if not isinstance(result, dict) or "policy" not in result:
            continue
        policy = load_policy(result["policy"])
        prompt = policy_prompt(result["policy"]) or ctx.cfg.sft.prompt
        rep, _ = evaluate_policy(
            policy, world, prompt, ecfg, index=index, clean_fn=clean_fn,
            max_new_tokens=ctx.cfg.sft.max_new_tokens, progress=ctx.progress,
        )  # fmt: skip
        row = summary(rep) | {"answers": rep["answers"]}
        if ctx.cfg.answer_samples:
            sampled = evaluate_sampled(
                policy, world, prompt, ecfg, samples=ctx.cfg.answer_samples, index=index,
                clean_fn=clean_fn, max_new_tokens=ctx.cfg.sft.max_new_tokens,
            )  # fmt: skip
            row["sampled"] = summary(sampled) | {"answers": sampled["answers"]}
        rows[result.get("label", name)] = row
    out = {"users": len(world.users), "test_clicks": len(world.test_clicks), "rows": rows}
    (ctx.out / "evaluation.json").write_text(json.dumps(out, indent=2) + "\n")
    (ctx.out / "table.md").write_text(table(rows) + "\n")
    return {"evaluation": str(ctx.out / "evaluation.json"), "table": str(ctx.out / "table.md")}


STAGES: list[Stage] = [
    Stage("world", stage_world),
    Stage("clean", stage_clean),
    Stage("sft", stage_sft),
    Stage("grpo", stage_grpo),
    Stage("distill", stage_distill),
    Stage("evaluate", stage_evaluate),
]


def add_stage(stage: Stage, *, before: str = "evaluate") -> None:
    """Inserts a stage (e.g. distillation) before `before` in `STAGES` (once)."""
    if any(s.name == stage.name for s in STAGES):
        return
    names = [s.name for s in STAGES]
    STAGES.insert(names.index(before), stage)


def table(rows: dict) -> str:
    """A markdown table of R@10 / N@10 / MRR for all and cold users (a policy's greedy answer),
    and R@10 / N@10 of its sampled answers where the row has them."""
    head = (
        "| | R@10 | N@10 | MRR | R@10 cold | N@10 cold | MRR cold | R@10 sampled | N@10 sampled |"
    )
    lines = [head, "|---" * 9 + "|"]
    for name, r in rows.items():
        cells = [f"{r[c][m]:.4f}" for c in ("all", "cold") for m in ("recall@10", "ndcg@10", "mrr")]
        s = r.get("sampled")
        cells += [f"{s['all'][m]:.4f}" if s else "" for m in ("recall@10", "ndcg@10")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_quickstart(cfg: QuickstartConfig, *, progress: bool = True, log=print) -> dict:
    """Every stage not yet recorded in out/stages.json, in order (module docstring). Returns
    {"stages": stages.json's contents, "table": the markdown table, "out": the directory}."""
    from jaxinterest.config import save_config, to_dict

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    if config_path.exists():
        saved = json.loads(config_path.read_text())
        if saved != to_dict(cfg):
            changed = sorted(k for k in saved.keys() | to_dict(cfg).keys()
                             if saved.get(k) != to_dict(cfg).get(k))  # fmt: skip
            raise ValueError(
                f"{out} holds a quickstart run with a different config ({', '.join(changed)}): "
                "use a new --out, or the same settings to continue it"
            )
    save_config(cfg, config_path)
    path = out / "stages.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    ctx = Context(cfg, out, {k: v["result"] for k, v in done.items()}, progress)
    for stage in STAGES:
        if stage.name in done:
            log(f"[quickstart] {stage.name}: done earlier ({done[stage.name]['seconds']:.0f} s)")
            continue
        log(f"[quickstart] {stage.name} ...")
        wall, cpu = time.perf_counter(), time.process_time()
        result = stage.run(ctx)
        done[stage.name] = {
            "result": result,
            "seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        ctx.results[stage.name] = result
        path.write_text(json.dumps(done, indent=2) + "\n")
        log(f"[quickstart] {stage.name}: {done[stage.name]['seconds']:.0f} s")
    return {"stages": done, "table": (out / "table.md").read_text().strip(), "out": str(out)}
