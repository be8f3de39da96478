"""The SFT warm start on a small world whose oracle/ is deleted: both stages lower their
losses, the weak-label targets are what the labeller writes from the shown behaviours alone,
the policy directory records its prompt, and a rerun skips the finished stages."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

from jaxinterest.data.answer import parse_queries
from jaxinterest.data.io import load_world
from jaxinterest.train import examples as ex
from jaxinterest.train.metrics import read_metrics
from jaxinterest.train.policy import load_policy
from jaxinterest.train.queries import policy_prompt
from jaxinterest.train.sft import SFTConfig, StageConfig, run_sft
from jaxinterest.train.weak_labels import LabelConfig
from tests.test_train_rollout import PROMPT, small_world

STEPS = 12


@pytest.fixture(scope="module")
def world_pair(tmp_path_factory):
    """(the world, a copy without oracle/)."""
    root = tmp_path_factory.mktemp("sft")
    full = small_world(root / "full")
    blind = root / "blind"
    shutil.copytree(full, blind)
    shutil.rmtree(blind / "oracle")
    return full, blind


@pytest.fixture(scope="module")
def run(world_pair, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft_out")
    cfg = SFTConfig(
        world=str(world_pair[1]), out=str(out), policy="preset:tiny-1m", seq_len=64,
        max_new_tokens=48, cut_days=(0, 6), prompt=PROMPT,
        pretrain=StageConfig(steps=STEPS, batch_size=8, lr=5e-3, warmup_steps=2),
        instruct=StageConfig(steps=STEPS, batch_size=8, lr=5e-3, warmup_steps=2),
    )  # fmt: skip
    return cfg, out, run_sft(cfg, progress=False)


def test_both_stages_lower_their_loss(run):
    _, out, report = run
    rows = read_metrics(out / "metrics.jsonl")
    for stage in ("pretrain", "instruct"):
        loss = [r["loss"] for r in rows if r["stage"] == stage]
        assert len(loss) == STEPS
        first, last = np.mean(loss[:3]), np.mean(loss[-3:])
        assert last < first - 0.3, (stage, loss)
    assert report["info"]["instruct_examples"] > 60
    for name in ("weak_labels", "own_searches", "recent_behaviours", "sft_policy"):
        assert {"all", "cold"} <= set(report[name])
        assert set(report[name]["all"]) == {"recall@10", "ndcg@10", "mrr"}
    assert 0 <= report["sft_policy"]["valid_share"] <= 1


def test_policy_directory_and_rerun(run):
    cfg, out, report = run
    policy = load_policy(str(out / "policy"))
    assert policy.cfg.hidden_size == load_policy("preset:tiny-1m").cfg.hidden_size
    assert policy_prompt(out / "policy") == PROMPT
    assert json.loads((out / "config.json").read_text())["instruct"]["steps"] == STEPS
    lines = (out / "metrics.jsonl").read_text()
    assert run_sft(cfg, progress=False) == report  # both stages and the report are skipped
    assert (out / "metrics.jsonl").read_text() == lines


def test_weak_label_targets_never_need_the_oracle(world_pair):
    """The instruction examples of the world and of its oracle-less copy are identical, and
    every target is the labeller's query list in the answer format (ending with EOS)."""
    policy = load_policy("preset:tiny-1m")
    got = []
    for path in world_pair:
        world = load_world(path, parts=("news", "events", "users"))
        examples, _ = ex.instruction_examples(world, policy.tokenizer, PROMPT, LabelConfig(),
                                              eos_id=policy.eos_id, cut_days=(0,))  # fmt: skip
        got.append([(e.user_id, e.queries, e.target) for e in examples])
    assert got[0] == got[1] and len(got[0]) > 20
    for _, queries, target in got[0]:
        # every target is a valid answer: exactly n distinct queries in the JSON format
        text = policy.tokenizer.decode(target[:-1])
        parsed = parse_queries(text, n_max=PROMPT.n_queries, n_exact=PROMPT.n_queries)
        assert parsed.valid and list(parsed.queries) == queries, (text, parsed.reason)
        assert target[-1] == policy.eos_id


def test_history_corpus_is_the_training_users_prompts(world_pair):
    """The "histories" pretraining corpus: one row per training user and history cut, each the
    exact prompt the pipeline renders for that user at that cut (so it shows only cleaned,
    training-window behaviours), the same with and without oracle/; lm_chunks joins text
    tokens and these rows with EOS between them."""
    from jaxinterest.data.columns import column
    from jaxinterest.train.queries import user_prompts
    from jaxinterest.train.validation import DAY, cut_events

    policy = load_policy("preset:tiny-1m")
    full, blind = (load_world(p, parts=("news", "events", "users")) for p in world_pair)
    got = ex.history_ids(full, policy.tokenizer, PROMPT, cut_days=(0, 6))
    assert got == ex.history_ids(blind, policy.tokenizer, PROMPT, cut_days=(0, 6))
    users, splits = column(full.users, "user_id"), column(full.users, "split")
    present = set(column(full.events, "user_id"))
    train = [u for u, s in zip(users, splits, strict=True) if s == "train" and u in present]
    end = int(full.meta["train_end"])
    earlier = dataclasses.replace(full, events=cut_events(full.events, end - 6 * DAY))
    alive = set(column(earlier.events, "user_id"))
    want = user_prompts(full, train, policy.tokenizer, PROMPT) + user_prompts(
        earlier, [u for u in train if u in alive], policy.tokenizer, PROMPT
    )
    assert got == want and len(want) > len(train)
    rows = ex.lm_chunks(["a b"], policy.tokenizer, 16, eos_id=7, extra_ids=got[:2])
    flat = rows.reshape(-1).tolist()
    head = [*policy.tokenizer("a b", add_special_tokens=False)["input_ids"], 7, *got[0], 7]
    assert flat[: len(head)] == head[: len(flat)]


def test_weak_labeller_fills_the_list_when_pairing_repeats_a_query():
    """Two heads that pair with each other ("alpha" + "gamma", "gamma" + "alpha") are one
    query; the labeller then takes the next candidate, so the list still has n queries."""
    from jaxinterest.rewards.view import UserView
    from jaxinterest.train.weak_labels import PhraseStats, label

    texts = ("alpha, gamma",) * 3 + ("delta", "epsilon", "eta", "theta", "zeta")
    view = UserView("u", ("search",) * len(texts), texts, ("",) * len(texts))
    got = label(view, PhraseStats(100, {}), LabelConfig(n_queries=5))
    assert got == ["alpha gamma", "delta", "epsilon", "eta", "theta"]


def test_a_real_checkpoint_gets_the_instruction_stage_only(run, world_pair, tmp_path):
    """`Recipe.sft_pretrained`: an HF checkpoint (here the SFT policy above, standing in for
    SmolLM2) gets the recipe's instruction stage and no article pretraining; the report scores
    `validation_users` held-out users. Without the flag the checkpoint is its own warm start."""
    from jaxinterest.experiments import recipe as R
    from jaxinterest.train.validation import holdout_world

    cfg, out, _ = run
    start = str(out / "policy")
    sft = dataclasses.replace(cfg, pretrain=StageConfig(steps=0), validation_users=5,
                              instruct=dataclasses.replace(cfg.instruct, steps=4))  # fmt: skip
    recipe = R.Recipe(model=start, sft_pretrained=True, sft=sft, prompt=PROMPT).resolve()
    assert R.sft_stage(dataclasses.replace(recipe, sft_pretrained=False), world_pair[1],
                       tmp_path / "skip", progress=False) == start  # fmt: skip
    assert not (tmp_path / "skip").exists()

    got = R.sft_stage(recipe, world_pair[1], tmp_path / "s", progress=False)
    assert got == str(tmp_path / "s" / "policy") and not (tmp_path / "s" / "pretrained").exists()
    assert [r["stage"] for r in read_metrics(tmp_path / "s" / "metrics.jsonl")] == ["instruct"] * 4
    before, after = load_policy(start), load_policy(got)
    assert after.cfg == before.cfg
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(before.params), jax.tree.leaves(after.params), strict=True)
    ]
    assert all(moved)  # every tensor trained from the checkpoint's values

    # the validation report scored 5 of the held-out users; the full run scored them all
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    world = load_world(world_pair[1], parts=("news", "events", "users"))
    n = holdout_world(world, sft.validation_days).users.num_rows
    assert report["users_scored"] == 5 and run[2]["users_scored"] == n > 5
