"""A policy's query lists for a world's users, and their retrieval metrics.

Prompts are the training pipeline's (`data.pipeline.MakeExample`: the same cleaning and
rendering); answers are decoded greedily by default and parsed with `parse_queries` (the
queries it recovers are used even when the format is broken, and the share of valid answers is
reported). `evaluate_policy` feeds them to `eval.evaluate_queries`: on `validation.holdout_world`
during training, on the real world (test week) in the final evaluation.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from jaxinterest.data.answer import parse_queries
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.train.policy import Policy

PROMPT_FILE = "prompt.json"  # beside a trained policy's weights: the prompt it was trained on


def save_prompt(policy_dir, prompt_cfg: PromptConfig) -> None:
    """Records the PromptConfig a policy was trained with in its HF directory, so the next
    stage (GRPO after SFT, the evaluation after GRPO) renders the prompts it knows."""
    import json
    from pathlib import Path

    from jaxinterest.config import to_dict

    (Path(policy_dir) / PROMPT_FILE).write_text(json.dumps(to_dict(prompt_cfg), indent=2) + "\n")


def policy_prompt(policy_dir) -> PromptConfig | None:
    """The PromptConfig stored by `save_prompt` in a policy directory, or None."""
    import json
    from pathlib import Path

    from jaxinterest.config import from_dict

    path = Path(policy_dir) / PROMPT_FILE
    if not path.is_file():
        return None
    return from_dict(PromptConfig, json.loads(path.read_text()))


@dataclasses.dataclass(frozen=True)
class PolicyAnswers:
    """queries: user_id -> parsed queries; texts: user_id -> raw answer; valid_share: share of
    answers in the exact format; mean_tokens: generated tokens per answer."""

    queries: dict
    texts: dict
    valid_share: float
    mean_tokens: float


def user_prompts(world, user_ids, tokenizer, prompt_cfg: PromptConfig, clean_fn=None):
    """Token-id lists of the users' prompts, as the Grain pipeline renders them."""
    from jaxinterest.data.pipeline import MakeExample, UserSource

    source = UserSource(world, split=None)
    row = {u: i for i, u in enumerate(source.user_ids)}
    missing = [u for u in user_ids if u not in row]
    if missing:
        raise KeyError(f"{len(missing)} users have no events in the world (first: {missing[0]!r})")
    make = MakeExample(tokenizer, prompt_cfg, clean_fn)
    out = []
    for u in user_ids:
        ex = make(source[row[u]])
        out.append(ex["input_ids"][len(ex["input_ids"]) - int(ex["length"]) :].tolist())
    return out


def policy_answers(
    policy: Policy,
    world,
    user_ids,
    prompt_cfg: PromptConfig,
    *,
    clean_fn=None,
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = False,
) -> PolicyAnswers:
    """The policy's answer for each user (greedy unless temperature > 0)."""
    from tqdm import tqdm

    user_ids = list(user_ids)
    prompts = user_prompts(world, user_ids, policy.tokenizer, prompt_cfg, clean_fn)
    sampling = SamplingParams(
        max_new_tokens=max_new_tokens, temperature=temperature, stop_ids=policy.stop_ids
    )
    queries, texts, valid, lengths = {}, {}, [], []
    bar = tqdm(total=len(user_ids), desc="answers", unit="user", disable=not progress)
    for s in range(0, len(user_ids), batch_size):
        batch = prompts[s : s + batch_size]
        key = jax.random.fold_in(jax.random.key(seed), s)
        gen = generate(policy.params, policy.cfg, batch, sampling, key=key, pad_id=policy.pad_id)
        for u, text, n in zip(user_ids[s : s + batch_size], gen.texts(policy.tokenizer),
                              gen.lengths, strict=True):  # fmt: skip
            parsed = parse_queries(text, n_max=prompt_cfg.n_queries, n_exact=prompt_cfg.n_queries)
            queries[u], texts[u] = list(parsed.queries), text
            valid.append(parsed.valid)
            lengths.append(int(n))
        bar.update(len(batch))
    bar.close()
    return PolicyAnswers(
        queries, texts, float(np.mean(valid)) if valid else 0.0,
        float(np.mean(lengths)) if lengths else 0.0,
    )  # fmt: skip


def evaluate_policy(policy: Policy, world, prompt_cfg: PromptConfig, eval_cfg, *, index=None,
                    embedder=None, **answer_kw) -> tuple[dict, PolicyAnswers]:  # fmt: skip
    """(evaluate_queries report over the world's users, the answers). The report gains
    `answers`: valid_share and mean_tokens."""
    from jaxinterest.data.columns import column
    from jaxinterest.eval import evaluate_queries

    answers = policy_answers(policy, world, column(world.users, "user_id"), prompt_cfg, **answer_kw)
    report, _ = evaluate_queries(world, answers.queries, eval_cfg, index=index, embedder=embedder)
    report["answers"] = {"valid_share": answers.valid_share, "mean_tokens": answers.mean_tokens}
    return report, answers


def sample_seed(seed: int, i: int) -> int:
    """The seed of the i-th (0-based) sampled answer set: fixed, so a rerun scores the same
    answers, and apart from the greedy pass and from each other."""
    return seed + 1_000_003 * (i + 1)


def evaluate_sampled(policy: Policy, world, prompt_cfg: PromptConfig, eval_cfg, *, samples: int,
                     temperature: float = 1.0, seed: int = 0, index=None,
                     **answer_kw) -> dict:  # fmt: skip
    """The mean over `samples` answer sets (one list per user, sampled at `temperature` with
    `sample_seed`) of every cohort's metrics, plus `answers`: the mean valid share. The answer
    a sampled policy gives, which GRPO trains: a small policy's greedy list is often one query
    repeated and barely moves under GRPO (docs/training.md, "Which answer is scored").

    Each cohort's `stderr` is over users of their per-user metric averaged across the answer
    sets (the spread of users, not of samples), as in an `evaluate_queries` report."""
    from jaxinterest.data.columns import column
    from jaxinterest.eval import evaluate_queries
    from jaxinterest.eval.recommend import per_user_scores, user_stderr

    if samples < 1 or temperature <= 0:
        raise ValueError(f"samples must be >= 1 and temperature > 0, got {samples}, {temperature}")
    users = column(world.users, "user_id")
    reports, per_user, valid = [], [], []
    for i in range(samples):
        answers = policy_answers(policy, world, users, prompt_cfg, temperature=temperature,
                                 seed=sample_seed(seed, i), **answer_kw)  # fmt: skip
        report, ranked = evaluate_queries(world, answers.queries, eval_cfg, index=index)
        reports.append(report)
        per_user.append(per_user_scores(ranked, world, eval_cfg.ks))
        valid.append(answers.valid_share)
    mean_user = {k: np.mean([p[k] for p in per_user], axis=0) for k in per_user[0]}
    cold = np.asarray(column(world.users, "cold"), bool)
    masks = {"all": np.ones(len(users), bool), "warm": ~cold, "cold": cold}
    out = {}
    for cohort, mask in masks.items():
        keys = [k for k, v in reports[0][cohort].items() if isinstance(v, int | float)]
        out[cohort] = {k: float(np.mean([r[cohort][k] for r in reports])) for k in keys}
        out[cohort]["stderr"] = user_stderr(mean_user, mask, eval_cfg.ks)
    out["answers"] = {"valid_share": float(np.mean(valid)), "samples": samples,
                      "temperature": temperature}  # fmt: skip
    return out
