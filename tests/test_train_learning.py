"""The learning proof (issue 12): on the tiny world, Dr.GRPO from an SFT policy raises the mean
composite reward and Recall@10 of the users' next week, by margins that the same run with the
advantages' sign flipped (`advantage_sign=-1`, a broken loss) does not reach.

Set-up and scoring: `tests/tiny_learning.py` (tiny-2m SFT, 300 GRPO iterations of 8 x 8 at
lr 1e-4, four answers per user sampled at temperature 1, gains paired per user).

Which week is scored. The users' test week: clicks no stage has read (prompts, rewards and SFT
targets read the training window only) and on which nothing is selected here. The last week of
the training window (`validation.holdout_world`, every user) is scored too and reported, not
asserted: its clicks come from the training window's process, with four times the test week's
exploration (`explore` .2 against `test_explore` .05), and GRPO's prompts for the users it
trained on showed those days, so it is neither the test week's distribution nor unseen
(docs/training.md, "The learning proof").

The report is printed and, with LEARNING_CURVES=FILE in the environment, written there as
JSON."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests import tiny_learning as tl

FLIPPED_ITERATIONS = 30  # the flipped loss has driven every reward to 0 well before this
WINDOW = 10
# Reward: mean of the last WINDOW iterations minus the first WINDOW's (iteration 0 samples the
# SFT policy). Recall: the paired per-user gain must exceed both RECALL_MARGIN and two of its
# standard errors.
REWARD_MARGIN = 0.5
RECALL_MARGIN = 0.005


@pytest.mark.slow
def test_grpo_beats_sft_and_a_flipped_advantage_does_not(tiny_learning):
    from jaxinterest.train.metrics import read_metrics

    setup = tiny_learning
    start = {w: setup.recall(setup.sft_policy, w) for w in ("test", "holdout")}
    runs = {"grpo_sign+1": setup.root / "grpo"}
    runs["grpo_sign-1"] = tl.train_grpo(setup, "grpo_flipped", FLIPPED_ITERATIONS, sign=-1.0)
    got = {"users": len(start["test"]), "iterations": tl.ITERATIONS}
    for name, run in runs.items():
        rows = read_metrics(run / "metrics.jsonl")
        got[name] = {
            "reward": [r["reward_mean"] for r in rows],
            "cov_raw": [r["cov_raw_mean"] for r in rows],
            "valid_share": [r["valid_share"] for r in rows],
            **{f"recall@10_{w}": tl.paired_gain(s, setup.recall(run / "policy", w))
               for w, s in start.items()},
        }  # fmt: skip
    print(json.dumps({k: v if not isinstance(v, dict) else
                      {a: b for a, b in v.items() if not isinstance(b, list)}
                      for k, v in got.items()}, indent=1))  # fmt: skip
    if os.environ.get("LEARNING_CURVES"):
        with open(os.environ["LEARNING_CURVES"], "w") as f:
            json.dump(got, f, indent=1)

    def gain(c):
        return float(np.mean(c["reward"][-WINDOW:]) - np.mean(c["reward"][:WINDOW]))

    good, bad = got["grpo_sign+1"], got["grpo_sign-1"]
    assert gain(good) > REWARD_MARGIN, got
    assert gain(bad) < REWARD_MARGIN, got
    r = good["recall@10_test"]
    assert r["gain"] > max(RECALL_MARGIN, 2 * r["se"]), got
    assert bad["recall@10_test"]["gain"] < RECALL_MARGIN, got
    assert np.mean(good["cov_raw"][-WINDOW:]) > np.mean(good["cov_raw"][:WINDOW]), got
