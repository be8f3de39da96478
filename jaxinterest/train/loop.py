"""`run_grpo`: the GRPO run's cadence (data, rollouts, updates, logs, validation, checkpoints).

Run directory (`cfg.out`):
  config.json      the resolved GRPOConfig (also stored inside every checkpoint); its prompt is
                   the policy's own (policy/prompt.json of an SFT run) unless set explicitly
  metrics.jsonl    one line per iteration: every reward signal's raw / normalised mean and std,
                   the total, advantage std, valid share, completion length, entropy, sampler
                   mismatch, loss, clip fraction, ratio, KL, grad norm, lr, skipped updates,
                   tokens/s and seconds per phase; val_* on validation iterations
  tb/              TensorBoard event files (when tensorboardX is installed)
  checkpoints/     Orbax steps (params, optimiser state, step, RNG key, Grain iterator state,
                   config): the last keep_last and the best by val_recall@10
  rewards_cache/   the training-window article index of the rewards (rebuilt bit-identically)
  policy/, best/   HF directories (+ prompt.json): the final policy and the best by validation
  summary.json     what the run did (iterations, skipped updates, best step, last validation)

Resume (`resume=True`): the latest finished checkpoint restores the state and the data
iterator; the metrics file is cut back to it; the run then continues exactly as an
uninterrupted one would (the RNG of each rollout and update is a function of the stored key and
the step). Without resume, a directory that already holds checkpoints is an error.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax

from jaxinterest.train.grpo import GRPOConfig, make_update, update
from jaxinterest.train.rollout import collect

ROLLOUT_STREAM = 0x7FFF_FFFF  # fold_in tag: rollout keys never collide with update keys


def rollout_key(rng: jax.Array, iteration: int) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(rng, ROLLOUT_STREAM), iteration)


class Validator:
    """Answers of validation users on the held-out window -> val_* metrics: the greedy answer,
    or (cfg.validation_samples = k > 0) the mean over k answers sampled at the rollout
    temperature with fixed keys. Sampled validation reads the distribution GRPO trains, which a
    small policy's greedy answer (often one query repeated) does not show."""

    def __init__(self, cfg: GRPOConfig, world, clean_fn):
        from jaxinterest.eval import EvalConfig
        from jaxinterest.eval.recommend import build_test_index
        from jaxinterest.train.validation import holdout_world

        self.cfg, self.clean_fn = cfg, clean_fn
        self.world = holdout_world(world, cfg.validation_days)
        self.eval_cfg = EvalConfig()
        self.index = build_test_index(self.world, self.eval_cfg)

    def __call__(self, policy) -> dict:
        from jaxinterest.train.queries import evaluate_policy, evaluate_sampled

        kw = dict(index=self.index, clean_fn=self.clean_fn, max_new_tokens=self.cfg.max_new_tokens)
        if self.cfg.validation_samples:
            rep = evaluate_sampled(policy, self.world, self.cfg.prompt, self.eval_cfg,
                                   samples=self.cfg.validation_samples,
                                   temperature=self.cfg.temperature, seed=self.cfg.seed,
                                   **kw)  # fmt: skip
        else:
            rep, _ = evaluate_policy(policy, self.world, self.cfg.prompt, self.eval_cfg,
                                     temperature=0.0, **kw)  # fmt: skip
        row = {f"val_{m}": float(rep["all"][m]) for m in ("recall@10", "ndcg@10", "mrr")}
        return row | {"val_valid_share": float(rep["answers"]["valid_share"])}


def check_resume(cfg: GRPOConfig, saved: dict) -> None:
    """Refuses a resume whose config differs from the checkpoint's in anything but `steps`. A
    field the saved config does not have (added to GRPOConfig since) must be at its default."""
    from jaxinterest.config import to_dict

    now = {k: v for k, v in to_dict(cfg).items() if k != "steps"}
    default = to_dict(GRPOConfig())
    before = {k: v for k, v in saved.items() if k != "steps"}
    before |= {k: default[k] for k in now.keys() - before.keys()}
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    if changed:
        raise ValueError(
            f"--resume with a different config: {', '.join(changed)} changed since the "
            "checkpoint (only steps may change)"
        )


def resolve_prompt(cfg: GRPOConfig) -> GRPOConfig:
    """cfg with the policy's own PromptConfig (`queries.save_prompt`, written by SFT and by
    GRPO) when cfg.prompt is left at its default: a policy trained on one prompt and rolled out
    on another fails silently. An explicit prompt in the config wins."""
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.train.queries import policy_prompt

    stored = policy_prompt(cfg.policy) if Path(cfg.policy).is_dir() else None
    if stored is None or cfg.prompt != PromptConfig() or stored == cfg.prompt:
        return cfg
    return dataclasses.replace(cfg, prompt=stored)


def run_grpo(
    cfg: GRPOConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    reward_model=None,
    advantage_sign: float = 1.0,
) -> dict:
    """The run (module docstring). reward_model: a prebuilt `RewardModel` (tests inject one);
    advantage_sign: see `grpo.make_update` (tests only). Returns the summary."""
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from jaxinterest.clean import KeepLookup
    from jaxinterest.config import save_config
    from jaxinterest.data.io import load_world
    from jaxinterest.data.pipeline import PipelineConfig, UserSource, build_dataset
    from jaxinterest.models.qwen2 import abstract_params
    from jaxinterest.rewards import build_rewards
    from jaxinterest.train.checkpoint import Checkpointer
    from jaxinterest.train.metrics import MetricsWriter
    from jaxinterest.train.policy import load_policy, save_policy
    from jaxinterest.train.queries import save_prompt
    from jaxinterest.train.state import abstract_state, create_state

    if not cfg.world or not cfg.policy:
        raise ValueError("GRPOConfig needs world and policy")
    cfg = resolve_prompt(cfg)
    out = Path(cfg.out)
    ckpt = Checkpointer(out / "checkpoints", keep_last=cfg.keep_last,
                        best_metric="val_recall@10")  # fmt: skip
    if ckpt.latest_step() is not None and not resume:
        raise ValueError(f"{out} already holds checkpoints: pass --resume, or a new --out")
    world = load_world(cfg.world, parts=("news", "events", "users"))
    clean_fn = KeepLookup(pq.read_table(cfg.keep_file)) if cfg.keep_file else None
    policy = load_policy(cfg.policy, seed=cfg.seed, cache_dir=out)
    prepare = reward_model is None  # an injected model is prepared by its owner
    if reward_model is None:
        reward_model = build_rewards(
            world,
            cfg.rewards,
            clean_fn=clean_fn,
            tokenizer=policy.tokenizer,
            prompt_cfg=cfg.prompt,
            cache_dir=out / "rewards_cache",
            progress=progress,
        )
    optimizer, step = make_update(cfg, policy.cfg, advantage_sign=advantage_sign)
    source = UserSource(world, split="train")
    if prepare and cfg.steps * cfg.prompts_per_step >= len(source.user_ids):
        # the run sees every training user: their reward themes once, up front, so an iteration
        # embeds only its queries (a shorter run computes them on first sight instead)
        reward_model.prepare(source.user_ids, progress=progress)
    pipe = PipelineConfig(batch_size=cfg.prompts_per_step, seed=cfg.seed, split="train",
                          num_epochs=None, shard_index=0, shard_count=1)  # fmt: skip
    data = iter(build_dataset(source, policy.tokenizer, cfg.prompt, pipe, clean_fn))
    ref_params = policy.params if cfg.beta > 0 else None
    if resume and ckpt.latest_step() is not None:
        target = abstract_state(abstract_params(policy.cfg), optimizer)
        restored = ckpt.restore(target)
        check_resume(cfg, restored.config)
        state = restored.state
        data.set_state(restored.data_state)
    else:
        state = create_state(policy.params, optimizer, jax.random.key(cfg.seed))
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    first = int(state.step) // cfg.inner_epochs
    writer = MetricsWriter(out / "metrics.jsonl", log_every=1, tensorboard=out / "tb",
                           resume_step=first - 1)  # fmt: skip
    validate = Validator(cfg, world, clean_fn)
    sampling = cfg.sampling(policy.stop_ids)
    width = cfg.prompt.max_prompt_tokens
    last_val: dict = {}
    bar = tqdm(total=cfg.steps, initial=first, desc="grpo", unit="it", disable=not progress)
    for it in range(first, cfg.steps):
        batch = next(data)
        lengths = batch["length"]
        prompts = [row[width - n :].tolist() for row, n in zip(batch["input_ids"], lengths,
                                                                strict=True)]  # fmt: skip
        users = [source.user_ids[i] for i in batch["user_index"]]
        ro = collect(policy.with_params(state.params), prompts, users, sampling, reward_model,
                     key=rollout_key(state.rng, it), prompt_width=width,
                     ref_params=ref_params)  # fmt: skip
        t0 = time.perf_counter()
        state, um = update(state, ro.batch, step, cfg.inner_epochs)
        seconds = time.perf_counter() - t0
        rows = ro.batch["tokens"].size * cfg.inner_epochs
        row = ro.metrics | um | {"seconds_update": seconds, "update_tokens_per_s": rows / seconds}
        last = it == cfg.steps - 1
        val = None
        if row.get("nonfinite"):
            n, total = row["nonfinite"], int(state.skipped)
            bar.write(f"iteration {it}: {n} non-finite update(s) skipped ({total} so far); "
                      "params and optimiser state kept")  # fmt: skip
        if last or (cfg.eval_every and (it + 1) % cfg.eval_every == 0):
            t0 = time.perf_counter()
            val = validate(policy.with_params(state.params))
            last_val = val | {"iteration": it}
            row |= val | {"seconds_validation": time.perf_counter() - t0}
        writer.add(it, row)
        if (cfg.checkpoint_every and (it + 1) % cfg.checkpoint_every == 0) or last:
            ckpt.save(state, data_state=data.get_state(), config=cfg, metrics=val)
        bar.update(1)
        bar.set_postfix(reward=f"{row['reward_mean']:.3f}", **(
            {"val_r10": f"{val['val_recall@10']:.3f}"} if val else {}))  # fmt: skip
    bar.close()
    writer.close()
    ckpt.wait()
    save_policy(policy.with_params(state.params), out / "policy")
    save_prompt(out / "policy", cfg.prompt)
    best = ckpt.best_step()
    if best is not None:
        restored = ckpt.restore(abstract_state(abstract_params(policy.cfg), optimizer), best)
        save_policy(policy.with_params(restored.state.params), out / "best")
        save_prompt(out / "best", cfg.prompt)
    ckpt.close()
    summary = {
        "iterations": cfg.steps,
        "updates": int(state.step),
        "skipped_updates": int(state.skipped),
        "best_step": best,
        "best_iteration": None if best is None else best // cfg.inner_epochs - 1,
        "last_validation": last_val,
        "policy": str(out / "policy"),
        "best_policy": str(out / "best") if best is not None else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
