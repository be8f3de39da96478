"""Distillation's validator with `samples = k`: every metric is the mean over k answer sets
sampled with fixed, distinct seeds; the reward is scored per draw and its standard error is over
the users' k-draw means; samples = 0 is the greedy answer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_train_rollout import PROMPT, small_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jaxinterest.data.io import load_world

    path = small_world(tmp_path_factory.mktemp("distill_val") / "world")
    return load_world(path, parts=("news", "events", "users"))


def test_sampled_validation_averages_fixed_draws(world, monkeypatch):
    from jaxinterest.train import queries
    from jaxinterest.train.distill_eval import Validator
    from jaxinterest.train.policy import load_policy

    policy = load_policy("preset:tiny-1m", seed=3)
    validate = Validator(world, PROMPT, tokenizer=policy.tokenizer, max_new_tokens=10,
                         samples=3, temperature=0.8, seed=5)  # fmt: skip
    real = queries.evaluate_policy
    calls = []

    def spy(*args, **kw):
        rep, ans = real(*args, **kw)
        calls.append((kw, dict(ans.texts)))
        i = len(calls)  # known, distinct metrics per draw: the mean is what is checked
        rep["all"] = {"recall@10": i / 10, "ndcg@10": i / 20, "mrr": i / 5,
                      "stderr": {"recall@10": i / 100}}  # fmt: skip
        return rep, ans

    monkeypatch.setattr(queries, "evaluate_policy", spy)
    got = validate(policy)
    assert got["val_recall@10"] == pytest.approx(0.2)
    assert got["val_ndcg@10"] == pytest.approx(0.1)
    assert got["val_mrr"] == pytest.approx(0.4)
    assert got["val_recall@10_se"] == pytest.approx(0.02)
    kws = [kw for kw, _ in calls]
    assert [kw["temperature"] for kw in kws] == [0.8] * 3
    assert len({kw["seed"] for kw in kws}) == 3
    texts = [t for _, t in calls]
    assert len({tuple(sorted(t.items())) for t in texts}) == 3  # three different answer sets

    # the reward: each draw scored by the same reward model, averaged per user, then over users
    per_draw = []
    for t in texts:
        users = list(t)
        per_draw.append(np.asarray(validate.rewards.score(users, [t[u] for u in users]).total))
    per_user = np.mean(per_draw, axis=0)
    assert got["val_reward"] == pytest.approx(per_user.mean(), abs=1e-6)
    se = per_user.std(ddof=1) / np.sqrt(len(per_user))
    assert got["val_reward_se"] == pytest.approx(se, abs=1e-6)

    calls.clear()
    validate(policy)
    assert [t for _, t in calls] == texts  # fixed seeds: the same answers again
    calls.clear()
    Validator(world, PROMPT, tokenizer=policy.tokenizer, max_new_tokens=10)(policy)
    assert len(calls) == 1 and calls[0][0]["temperature"] == 0.0


def test_validation_config_is_checked_and_defaults_to_the_sampling_temperature():
    from jaxinterest.train.distill_run import DistillConfig

    with pytest.raises(ValueError, match="validation_samples"):
        DistillConfig(validation_samples=-1)
    with pytest.raises(ValueError, match="validation_temperature"):
        DistillConfig(validation_samples=2, validation_temperature=0.0)
    assert DistillConfig(temperature=0.9).validation_temperature_or_default() == 0.9
    cfg = DistillConfig(temperature=0.9, validation_temperature=0.5)
    assert cfg.validation_temperature_or_default() == 0.5
