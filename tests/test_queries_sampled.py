"""`queries.evaluate_sampled`: the metrics of k answer sets sampled with `sample_seed`, averaged;
each cohort's standard error is over users of their k-set mean. Checked against the answer
sets scored one at a time and a Recall@10 written here from the test-week clicks.

The answers come from a stand-in for `policy_answers` (an untrained policy writes no parsable
query, so every metric would be 0): per seed, each user gets two article titles drawn with that
seed, which hit some test-week clicks and differ from seed to seed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_train_rollout import PROMPT

SAMPLES, TEMPERATURE, SEED, WIDTH = 3, 1.0, 7, 12


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from jaxinterest.data.io import load_world
    from jaxinterest.data.world import generate_world, make_config

    path = tmp_path_factory.mktemp("sampled_eval") / "world"
    generate_world(make_config("tiny", seed=4, n_news=800, n_users=60), path, progress=False)
    return load_world(path)


def recall_at_10(ranked: list[str], clicked: set[str]) -> float:
    return len(set(ranked[:10]) & clicked) / len(clicked) if clicked else float("nan")


def title_answers(world):
    """A `policy_answers` stand-in: each user's queries are two titles drawn with `seed`; it
    records the keyword arguments of every call."""
    from jaxinterest.train.queries import PolicyAnswers

    titles = world.news.column("title").to_pylist()
    calls = []

    def answers(policy, world_, users, prompt, *, temperature, seed, **kw):
        calls.append({"temperature": temperature, "seed": seed, **kw})
        rng = np.random.default_rng(seed)
        queries = {u: [titles[i] for i in rng.choice(len(titles), 2)] for u in users}
        texts = {u: " | ".join(q) for u, q in queries.items()}
        return PolicyAnswers(queries, texts, valid_share=float(rng.random()), mean_tokens=9.0)

    return answers, calls


def test_sampled_metrics_and_their_standard_error(world, monkeypatch):
    from jaxinterest.eval import EvalConfig, build_test_index, evaluate_queries
    from jaxinterest.train import queries
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import evaluate_sampled, sample_seed

    policy_answers, calls = title_answers(world)
    monkeypatch.setattr(queries, "policy_answers", policy_answers)
    policy = load_policy("preset:tiny-1m", seed=1)
    cfg = EvalConfig()
    index = build_test_index(world, cfg)
    got = evaluate_sampled(policy, world, PROMPT, cfg, samples=SAMPLES, temperature=TEMPERATURE,
                           seed=SEED, index=index, max_new_tokens=WIDTH)  # fmt: skip

    users = world.users.column("user_id").to_pylist()
    cold = np.asarray(world.users.column("cold").to_pylist(), bool)
    clicks: dict[str, set[str]] = {}
    for u, n in zip(world.test_clicks.column("user_id").to_pylist(),
                    world.test_clicks.column("news_id").to_pylist(), strict=True):  # fmt: skip
        clicks.setdefault(u, set()).add(n)
    per_set, means, valid, texts = [], [], [], []
    for i in range(SAMPLES):
        answers = policy_answers(policy, world, users, PROMPT, temperature=TEMPERATURE,
                                 seed=sample_seed(SEED, i), max_new_tokens=WIDTH)  # fmt: skip
        report, ranked = evaluate_queries(world, answers.queries, cfg, index=index)
        per_set.append([recall_at_10(ranked[u], clicks.get(u, set())) for u in users])
        means.append(report["all"]["recall@10"])
        valid.append(answers.valid_share)
        texts.append(tuple(sorted(answers.texts.items())))
    assert [c["seed"] for c in calls] == [sample_seed(SEED, i) for i in range(SAMPLES)] * 2
    assert {c["temperature"] for c in calls} == {TEMPERATURE}
    assert {c["max_new_tokens"] for c in calls} == {WIDTH}
    assert len(set(texts)) == SAMPLES  # distinct draws, so the mean is over different answers
    per_user = np.mean(per_set, axis=0)  # NaN where a user has no test click
    assert np.nanmax(per_user) > 0  # some hits, so the standard error is not trivially 0

    assert got["all"]["recall@10"] == pytest.approx(np.mean(means), abs=1e-9)
    assert got["all"]["recall@10"] == pytest.approx(np.nanmean(per_user), abs=1e-9)
    assert got["answers"] == {"valid_share": pytest.approx(np.mean(valid)), "samples": SAMPLES,
                              "temperature": TEMPERATURE}  # fmt: skip
    for cohort, mask in (("all", np.ones(len(users), bool)), ("cold", cold), ("warm", ~cold)):
        x = per_user[mask & ~np.isnan(per_user)]
        se = x.std(ddof=1) / np.sqrt(len(x))
        assert got[cohort]["stderr"]["recall@10"] == pytest.approx(se, abs=1e-9), cohort


def test_bad_arguments_are_refused(world):
    from jaxinterest.eval import EvalConfig
    from jaxinterest.train.policy import load_policy
    from jaxinterest.train.queries import evaluate_sampled

    policy = load_policy("preset:tiny-1m", seed=1)
    for kw in ({"samples": 0}, {"samples": 2, "temperature": 0.0}):
        with pytest.raises(ValueError, match="samples must be >= 1"):
            evaluate_sampled(policy, world, PROMPT, EvalConfig(), **kw)
