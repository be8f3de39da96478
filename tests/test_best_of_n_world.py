"""Best-of-N on the tiny world with the real rewards and retrieval: sample lists drawn from each
user's own behaviours (good lists), generic lists and broken answers; the composite reward
picks among them. The reward curve rises, each sample's metrics equal a plain
`evaluate_queries` run, and N = S keeps the reward's argmax."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterest.data.answer import format_queries
from jaxinterest.data.columns import column
from jaxinterest.data.io import load_world
from jaxinterest.data.prompts import PromptConfig
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.eval import EvalConfig, build_test_index, evaluate_queries
from jaxinterest.eval.recommend import per_user_scores
from jaxinterest.rewards import RewardConfig, build_rewards
from jaxinterest.train import best_of_n_run as bon

S, USERS = 8, 60


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("bon") / "world"
    generate_world(make_config("tiny", seed=5, n_news=1000, n_users=100), path, progress=False)
    return load_world(path)


def fake_samples(world, users, seed=0):
    """S answer texts per user: own searches / clicked titles (5 at random), a generic list,
    or a broken answer."""
    rng = np.random.default_rng(seed)
    ev = world.events
    uid, text, dom = column(ev, "user_id"), column(ev, "text"), column(ev, "domain")
    own = {}
    for u, t, d in zip(uid, text, dom, strict=True):
        if d in ("search", "click"):
            own.setdefault(u, []).append(" ".join(str(t).split()[:6]))
    generic = format_queries(["news today", "weather", "sports scores", "video", "login"])
    out = {}
    for u in users:
        texts = []
        for _ in range(S):
            kind = rng.random()
            if kind < 0.6 and len(set(own.get(u, []))) >= 5:
                pick = rng.choice(sorted(set(own[u])), 5, replace=False)
                texts.append(format_queries(pick))
            elif kind < 0.8:
                texts.append(generic)
            else:
                texts.append("I think the user likes " + " ".join(rng.choice(list("abc"), 4)))
        out[u] = texts
    return out


def test_best_of_n_on_the_tiny_world(world):
    users = list(column(world.users, "user_id"))[:USERS]
    samples = fake_samples(world, users)
    cfg = bon.BestOfNConfig(samples=S, ns=(1, 2, 4, 8), max_new_tokens=8)
    prompt = PromptConfig(n_queries=5)
    model = build_rewards(world, RewardConfig(n_queries=5), prompt_cfg=prompt)
    eval_cfg = EvalConfig()
    index = build_test_index(world, eval_cfg)
    rewards, metrics, order = bon.score_lists(world, samples, model, cfg, eval_cfg, index=index)
    assert order == users and rewards.shape == (USERS, S)
    assert rewards.std() > 0.05  # the reward tells the kinds of list apart

    # sample 3's metrics are those of a plain evaluation of sample 3's lists
    sub = bon.users_world(world, users)
    from jaxinterest.data.answer import parse_queries

    q3 = {u: list(parse_queries(samples[u][3], 5, 5).queries) for u in users}
    _, ranked = evaluate_queries(sub, q3, eval_cfg, index=index)
    want = per_user_scores(ranked, sub)
    np.testing.assert_allclose(metrics["recall@10"][:, 3], want["recall@10"], equal_nan=True)
    np.testing.assert_allclose(metrics["mrr"][:, 3], want["mrr"], equal_nan=True)

    rep = bon.report(world, order, rewards, metrics, cfg)
    curve = [rep["all"]["reward"][str(n)]["mean"] for n in cfg.ns]
    se = rep["all"]["reward"]["8"]["stderr"]
    assert all(b > a for a, b in zip(curve, curve[1:], strict=False)), curve
    assert curve[-1] - curve[0] > 3 * se, (curve, se)  # selection gains far beyond noise
    assert rep["all"]["reward"]["8"]["users"] == USERS
    np.testing.assert_allclose(curve[-1], rewards.max(1).mean(), rtol=1e-12)
    ok = ~np.isnan(metrics["recall@10"][:, 0])
    best = rewards.argmax(1)
    kept = metrics["recall@10"][np.arange(USERS), best][ok].mean()
    np.testing.assert_allclose(rep["all"]["recall@10"]["8"]["mean"], kept, rtol=1e-12)
    n_cold = int(np.asarray(column(sub.users, "cold")).sum())
    assert rep["cold"]["reward"]["1"]["users"] == n_cold
    assert rep["warm"]["reward"]["1"]["users"] == USERS - n_cold
