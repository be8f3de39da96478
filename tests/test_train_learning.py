"""The learning proof (issue 12): on a tiny world, Dr.GRPO from an SFT policy raises both the
mean composite reward and validation Recall@10, by margins that the same run with the
advantages' sign flipped (`advantage_sign=-1`, a broken loss) does not reach.

- World: the tiny preset with 600 users, half of them validation users (`valid_fraction`), so
  300 users validate and 300 train (the default 300-user world leaves 30 validation users,
  whose Recall@10 standard error is as large as the gain). Behaviours cleaned by the n-gram
  classifier, as in the quickstart.
- Policy: the experiments' SFT recipe on tiny-2m (`experiments.recipe.Recipe().sft`; the
  policy reads its prompt and names the user's own entities).
- Rewards: the default weights (coverage 8, the other four 1; `rewards.config.DEFAULT_WEIGHTS`
  says why). GRPO: 8 users x 8 samples per iteration, lr 1e-4.
- Validation: the held-out last week of the training window (never the test week), four
  answers per user sampled at temperature 1 with fixed seeds: the lists GRPO trains. A tiny
  policy's greedy answer is one query repeated in most lists and barely moves under GRPO
  (docs/training.md, "Which answer is scored"). The recall gain is paired per user, with its
  standard error.

Real everything: world, n-gram cleaning, SFT, sampler, the five rewards with MiniLM, FAISS
retrieval. The report is printed and, with LEARNING_CURVES=FILE in the environment, written
there as JSON."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from jaxinterest.train import quickstart as qs
from jaxinterest.train.loop import run_grpo
from jaxinterest.train.metrics import read_metrics
from jaxinterest.train.optim import OptimConfig

USERS = 600
VALID_FRACTION = 0.5
ITERATIONS = int(os.environ.get("LEARNING_ITERATIONS", 300))
FLIPPED_ITERATIONS = 30  # the flipped loss has driven every reward to 0 well before this
GROUP = 8
SAMPLES = 4
WINDOW = 10
# Reward: mean of the last WINDOW iterations minus the first WINDOW's (iteration 0 samples the
# SFT policy). Recall: the paired per-user gain in validation Recall@10 must exceed both this
# margin and two of its standard errors.
REWARD_MARGIN = 0.5
RECALL_MARGIN = 0.005


def per_user_recall(policy_dir, world, prompt, clean_fn, index, max_new_tokens) -> np.ndarray:
    """[users] validation Recall@10 averaged over SAMPLES sampled answer sets (NaN: no click)."""
    from jaxinterest.eval import EvalConfig, evaluate_queries
    from jaxinterest.eval.recommend import per_user_scores
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import policy_answers, sample_seed

    policy = load_policy(str(policy_dir))
    users = list(world.users.column("user_id").to_pylist())
    out = []
    for i in range(SAMPLES):
        answers = policy_answers(policy, world, users, prompt, clean_fn=clean_fn,
                                 max_new_tokens=max_new_tokens, temperature=1.0,
                                 seed=sample_seed(0, i))  # fmt: skip
        _, ranked = evaluate_queries(world, answers.queries, EvalConfig(), index=index)
        out.append(per_user_scores(ranked, world, (10,))["recall@10"])
    return np.mean(out, axis=0)


@pytest.mark.slow
def test_grpo_beats_sft_and_a_flipped_advantage_does_not(tmp_path_factory):
    import pyarrow.parquet as pq

    from jaxinterest.clean import KeepLookup
    from jaxinterest.data.io import load_world
    from jaxinterest.data.world import generate_world, make_config
    from jaxinterest.eval import EvalConfig, build_test_index
    from jaxinterest.experiments.recipe import Recipe
    from jaxinterest.train.sft import run_sft
    from jaxinterest.train.validation import holdout_world

    root = tmp_path_factory.mktemp("learning")
    cfg = qs.QuickstartConfig(out=str(root))
    ctx = qs.Context(cfg, root, {}, progress=False)
    generate_world(make_config("tiny", seed=0, n_users=USERS, valid_fraction=VALID_FRACTION),
                   ctx.world, progress=False)  # fmt: skip
    qs.stage_clean(ctx)
    recipe = Recipe(model="tiny-2m").resolve()
    sft = dataclasses.replace(recipe.sft, world=ctx.world, out=str(root / "sft"),
                              keep_file=ctx.keep_file, policy="preset:tiny-2m")  # fmt: skip
    run_sft(sft, progress=False)
    base = dataclasses.replace(
        recipe.grpo, world=ctx.world, keep_file=ctx.keep_file, policy=str(root / "sft" / "policy"),
        steps=ITERATIONS, group_size=GROUP, eval_every=0, checkpoint_every=ITERATIONS,
        optim=OptimConfig(lr=1e-4, warmup_steps=0, total_steps=ITERATIONS),
    )  # fmt: skip
    clean_fn = KeepLookup(pq.read_table(ctx.keep_file))
    val = holdout_world(
        load_world(ctx.world, parts=("news", "events", "users")), base.validation_days
    )
    index = build_test_index(val, EvalConfig())

    def recall(policy_dir):
        return per_user_recall(policy_dir, val, sft.prompt, clean_fn, index, base.max_new_tokens)

    start = recall(base.policy)
    got = {"validation_users": val.users.num_rows, "sft_val_recall@10": float(np.nanmean(start))}
    for sign, steps in ((1.0, ITERATIONS), (-1.0, FLIPPED_ITERATIONS)):
        name = f"grpo_sign{sign:+.0f}"
        run_cfg = dataclasses.replace(base, out=str(root / name), steps=steps,
                                      checkpoint_every=steps)  # fmt: skip
        run_grpo(run_cfg, progress=False, advantage_sign=sign)
        rows = read_metrics(root / name / "metrics.jsonl")
        end = recall(root / name / "policy")
        diff = (end - start)[~np.isnan(start)]
        got[name] = {
            "reward": [r["reward_mean"] for r in rows],
            "cov_raw": [r["cov_raw_mean"] for r in rows],
            "valid_share": [r["valid_share"] for r in rows],
            "val_recall@10": float(np.nanmean(end)),
            "recall_gain": float(diff.mean()),
            "recall_gain_se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
        }
    print(json.dumps(got, indent=1))
    if os.environ.get("LEARNING_CURVES"):
        with open(os.environ["LEARNING_CURVES"], "w") as f:
            json.dump(got, f, indent=1)

    def gain(c):
        return float(np.mean(c["reward"][-WINDOW:]) - np.mean(c["reward"][:WINDOW]))

    good, bad = got["grpo_sign+1"], got["grpo_sign-1"]
    assert gain(good) > REWARD_MARGIN, got
    assert gain(bad) < REWARD_MARGIN, got
    assert good["recall_gain"] > max(RECALL_MARGIN, 2 * good["recall_gain_se"]), got
    assert bad["recall_gain"] < RECALL_MARGIN, got
    assert np.mean(good["cov_raw"][-WINDOW:]) > np.mean(good["cov_raw"][:WINDOW]), got
