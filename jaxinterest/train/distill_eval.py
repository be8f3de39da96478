"""Validation of a policy during distillation: the validation users' held-out last days.

`Validator(world, ...)` builds once what every validation shares: the holdout world
(`validation.holdout_world`: the validation users' events before the cut, their clicks after
it), its news index and a reward model over it. `validator(policy)` writes each validation
user's greedy list and returns flat metrics: Recall@10 / NDCG@10 / MRR (all and cold users),
the mean composite reward of the same lists, the share of answers in the exact format, and the
standard errors of Recall@10 and of the reward (so a difference between two policies can be
told from noise). Never reads the test week.
"""

from __future__ import annotations

import numpy as np


class Validator:
    def __init__(self, world, prompt_cfg, *, clean_fn=None, days: int = 7, tokenizer=None,
                 max_new_tokens: int = 48, batch_size: int = 64):  # fmt: skip
        from jaxinterest.eval import EvalConfig, build_test_index
        from jaxinterest.rewards import RewardConfig, build_rewards
        from jaxinterest.train.validation import holdout_world

        self.world = holdout_world(world, days)
        self.prompt_cfg, self.clean_fn = prompt_cfg, clean_fn
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.eval_cfg = EvalConfig()
        self.index = build_test_index(self.world, self.eval_cfg)
        self.rewards = build_rewards(
            self.world, RewardConfig(n_queries=prompt_cfg.n_queries), clean_fn=clean_fn,
            tokenizer=tokenizer, prompt_cfg=prompt_cfg,
        )  # fmt: skip

    def __call__(self, policy) -> dict:
        from jaxinterest.train.queries import evaluate_policy

        report, answers = evaluate_policy(
            policy, self.world, self.prompt_cfg, self.eval_cfg, index=self.index,
            clean_fn=self.clean_fn, max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
        )  # fmt: skip
        users = list(answers.texts)
        total = np.asarray(self.rewards.score(users, [answers.texts[u] for u in users]).total)
        out = {
            "val_recall@10": report["all"]["recall@10"],
            "val_recall@10_se": report["all"]["stderr"]["recall@10"],
            "val_ndcg@10": report["all"]["ndcg@10"],
            "val_mrr": report["all"]["mrr"],
            "val_cold_recall@10": report["cold"]["recall@10"],
            "val_reward": float(total.mean()),
            "val_reward_se": float(total.std(ddof=1) / np.sqrt(len(total))),
            "val_valid_share": answers.valid_share,
        }
        return {k: (None if v is None or np.isnan(v) else float(v)) for k, v in out.items()}
