"""The tiny-world set-up that the learning proofs share (`tests/test_train_learning.py`,
`tests/test_distill_learning.py`; conftest's session fixture `tiny_learning` builds it once
per pytest run).

- World: the tiny preset (300 users), behaviours cleaned by the n-gram classifier, as in the
  quickstart.
- SFT: the experiments' recipe on tiny-2m (`experiments.recipe.Recipe().sft`; the policy reads
  its prompt and names the user's own entities).
- GRPO: from the SFT policy, ITERATIONS iterations of 8 users x 8 samples at lr 1e-4 under the
  default reward weights (coverage 8, the other four 1; `rewards.config.DEFAULT_WEIGHTS`).
- Scoring (`Setup.score`): per user, Recall@10 and the composite reward, each averaged over
  SAMPLES answer sets sampled at temperature 1 with fixed seeds: the lists GRPO trains (a tiny
  policy's greedy answer is one query repeated in most lists and barely moves; docs/training.md,
  "Which answer is scored"). Gains are paired per user, with their standard error
  (`paired_gain`).

Real everything: world, cleaning, SFT, sampler, the five rewards with MiniLM, FAISS retrieval.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

ITERATIONS = int(os.environ.get("LEARNING_ITERATIONS", 300))
GROUP = 8
SAMPLES = 4
LR = 1e-4


@dataclasses.dataclass
class Setup:
    root: Path
    world_dir: str
    keep_file: str
    sft_policy: str
    grpo: object  # the GRPOConfig every run starts from (policy = the SFT policy)
    prompt: object
    max_new_tokens: int
    clean_fn: object
    _worlds: dict = dataclasses.field(default_factory=dict)
    _scores: dict = dataclasses.field(default_factory=dict)

    def world(self, which: str):
        """(world, its test index): "test" = the world with its test week; "holdout" = every
        user's last 7 days of the training window as the week to predict
        (`validation.holdout_world`, split None)."""
        from jaxinterest.data.io import load_world
        from jaxinterest.eval import EvalConfig, build_test_index
        from jaxinterest.train.validation import holdout_world

        if which not in self._worlds:
            w = load_world(self.world_dir)
            if which == "holdout":
                w = holdout_world(w, self.grpo.validation_days, split=None)
            self._worlds[which] = (w, build_test_index(w, EvalConfig()))
        return self._worlds[which]

    def score(self, policy_dir, which: str = "test") -> dict[str, np.ndarray]:
        """{"recall@10", "reward"}: [users] means over SAMPLES sampled answer sets (recall NaN:
        no click), cached per policy directory and world."""
        key = (str(policy_dir), which)
        if key not in self._scores:
            world, index = self.world(which)
            self._scores[key] = per_user_scores(policy_dir, world, self.prompt, self.clean_fn,
                                                index, self.max_new_tokens)  # fmt: skip
        return self._scores[key]

    def recall(self, policy_dir, which: str = "test") -> np.ndarray:
        return self.score(policy_dir, which)["recall@10"]


def build(root: Path) -> Setup:
    """World, cleaning and the SFT policy under root."""
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.experiments.recipe import Recipe
    from jaxinterest.train import quickstart as qs
    from jaxinterest.train.optim import OptimConfig
    from jaxinterest.train.sft import run_sft

    ctx = qs.Context(qs.QuickstartConfig(out=str(root)), root, {}, progress=False)
    generate_world(make_config("tiny", seed=0), ctx.world, progress=False)
    qs.stage_clean(ctx)
    recipe = Recipe(model="tiny-2m").resolve()
    sft = dataclasses.replace(recipe.sft, world=ctx.world, out=str(root / "sft"),
                              keep_file=ctx.keep_file, policy="preset:tiny-2m")  # fmt: skip
    run_sft(sft, progress=False)
    grpo = dataclasses.replace(
        recipe.grpo, world=ctx.world, keep_file=ctx.keep_file, policy=str(root / "sft" / "policy"),
        steps=ITERATIONS, group_size=GROUP, eval_every=0, checkpoint_every=ITERATIONS,
        optim=OptimConfig(lr=LR, warmup_steps=0, total_steps=ITERATIONS),
    )  # fmt: skip
    return Setup(root, ctx.world, ctx.keep_file, grpo.policy, grpo, sft.prompt,
                 grpo.max_new_tokens, KeepLookup(pq.read_table(ctx.keep_file)))  # fmt: skip


def train_grpo(setup: Setup, name: str, steps: int, sign: float = 1.0) -> Path:
    """A GRPO run from the SFT policy into root/name (`advantage_sign=-1`: the broken loss);
    a shorter run follows the first `steps` iterations of the full run's schedule."""
    from jaxinterest.train.loop import run_grpo

    cfg = dataclasses.replace(setup.grpo, out=str(setup.root / name), steps=steps,
                              checkpoint_every=steps)  # fmt: skip
    run_grpo(cfg, progress=False, advantage_sign=sign)
    return setup.root / name


def per_user_scores(policy_dir, world, prompt, clean_fn, index, max_new_tokens) -> dict:
    """{"recall@10", "reward"}: [users] Recall@10 of the world's week to predict and composite
    reward, each averaged over SAMPLES sampled answer sets (recall NaN: no click)."""
    from jaxinterest.eval import EvalConfig, evaluate_queries
    from jaxinterest.eval.recommend import per_user_scores as recall_per_user
    from jaxinterest.rewards import RewardConfig, build_rewards
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import policy_answers, sample_seed

    policy = load_policy(str(policy_dir))
    rewards = build_rewards(world, RewardConfig(n_queries=prompt.n_queries), clean_fn=clean_fn,
                            tokenizer=policy.tokenizer, prompt_cfg=prompt)  # fmt: skip
    users = list(world.users.column("user_id").to_pylist())
    recall, reward = [], []
    for i in range(SAMPLES):
        answers = policy_answers(policy, world, users, prompt, clean_fn=clean_fn,
                                 max_new_tokens=max_new_tokens, temperature=1.0,
                                 seed=sample_seed(0, i))  # fmt: skip
        _, ranked = evaluate_queries(world, answers.queries, EvalConfig(), index=index)
        recall.append(recall_per_user(ranked, world, (10,))["recall@10"])
        reward.append(np.asarray(rewards.score(users, [answers.texts[u] for u in users]).total))
    return {"recall@10": np.mean(recall, axis=0), "reward": np.mean(reward, axis=0)}


def paired_gain(before: np.ndarray, after: np.ndarray) -> dict:
    """Mean per-user gain over users with clicks, its standard error, and both means."""
    d = (after - before)[~np.isnan(before)]
    return {"before": float(np.nanmean(before)), "after": float(np.nanmean(after)),
            "gain": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))),
            "users": int(len(d))}  # fmt: skip
