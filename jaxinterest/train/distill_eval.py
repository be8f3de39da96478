"""Validation of a policy during distillation: the validation users' held-out last days.

`Validator(world, ...)` builds once what every validation shares: the holdout world
(`validation.holdout_world`: the validation users' events before the cut, their clicks after
it), its news index and a reward model over it. `validator(policy)` writes each validation
user's greedy list and returns flat metrics: Recall@10 / NDCG@10 / MRR (all and cold users),
the mean composite reward of the same lists, the share of answers in the exact format, and the
standard errors of Recall@10 and of the reward (so a difference between two policies can be
told from noise). Never reads the test week.

`samples = k > 0` scores k answers per user sampled at `temperature` with fixed seeds (a rerun
scores the same answers) instead of the greedy one, and averages: a small policy's greedy answer
is often one query repeated, so it does not show the distribution that distillation trains (the
GRPO loop's `validation_samples` is the same option). The reward's standard error is over the
users' k-sample means; Recall@10's is the mean of the k per-draw errors, which the averaging
over draws can only lower.
"""

from __future__ import annotations

import numpy as np


class Validator:
    def __init__(self, world, prompt_cfg, *, clean_fn=None, days: int = 7, tokenizer=None,
                 max_new_tokens: int = 48, batch_size: int = 64, samples: int = 0,
                 temperature: float = 1.0, seed: int = 0):  # fmt: skip
        from jaxinterest.eval import EvalConfig, build_test_index
        from jaxinterest.rewards import RewardConfig, build_rewards
        from jaxinterest.train.queries import sample_seed
        from jaxinterest.train.validation import holdout_world

        self.world = holdout_world(world, days)
        self.prompt_cfg, self.clean_fn = prompt_cfg, clean_fn
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        if samples < 0:
            raise ValueError(f"samples must be >= 0, got {samples}")
        self.draws = [{"temperature": 0.0}] if samples == 0 else [
            {"temperature": temperature, "seed": sample_seed(seed, i)} for i in range(samples)
        ]  # fmt: skip
        self.eval_cfg = EvalConfig()
        self.index = build_test_index(self.world, self.eval_cfg)
        self.rewards = build_rewards(
            self.world, RewardConfig(n_queries=prompt_cfg.n_queries), clean_fn=clean_fn,
            tokenizer=tokenizer, prompt_cfg=prompt_cfg,
        )  # fmt: skip

    def __call__(self, policy) -> dict:
        from jaxinterest.train.queries import evaluate_policy

        keys = ("recall@10", "ndcg@10", "mrr")
        rows, totals = [], []
        for kw in self.draws:
            report, answers = evaluate_policy(
                policy, self.world, self.prompt_cfg, self.eval_cfg, index=self.index,
                clean_fn=self.clean_fn, max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size, **kw,
            )  # fmt: skip
            users = list(answers.texts)
            totals.append(self.rewards.score(users, [answers.texts[u] for u in users]).total)
            row = {f"val_{m}": report["all"][m] for m in keys}
            row["val_recall@10_se"] = report["all"]["stderr"]["recall@10"]
            row["val_cold_recall@10"] = report["cold"]["recall@10"]
            row["val_valid_share"] = answers.valid_share
            rows.append(row)
        out = {k: float(np.mean([np.nan if r[k] is None else r[k] for r in rows])) for k in rows[0]}
        per_user = np.mean(np.asarray(totals, dtype=np.float64), axis=0)
        out["val_reward"] = float(per_user.mean())
        out["val_reward_se"] = float(per_user.std(ddof=1) / np.sqrt(len(per_user)))
        return {k: (None if v is None or np.isnan(v) else float(v)) for k, v in out.items()}
