"""The rewards on the `tiny` world: ordering probes over many users, the training-window index,
the prompt's view, no oracle, and bad completions.

The world directory has oracle/ and test_clicks.parquet deleted before the reward model is
built, so nothing here can read them. Cleaning is the project's n-gram noise classifier trained
on the world's noise labels (what noise labels are for), applied through a KeepLookup.
"""

import json
import shutil

import numpy as np
import pyarrow as pa
import pytest

from jaxinterest.clean import KeepLookup, join_labels, render_behaviors, train_classifier
from jaxinterest.data.columns import column
from jaxinterest.data.io import load_noise_labels, load_world
from jaxinterest.data.prompts import PromptConfig, render_prompt
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.embed import embed
from jaxinterest.retrieval import retrieve
from jaxinterest.rewards import RewardConfig, ViewBuilder, build_rewards

N_USERS = 40
GENERIC = ["news", "sports", "weather", "latest headlines", "youtube"]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_rewards")
    generate_world(make_config("tiny"), path, progress=False)
    world = load_world(path, parts=("events",))
    texts = render_behaviors(world.events)
    labels = join_labels(world.events, load_noise_labels(path))
    first = {}
    for t, y in zip(texts, labels, strict=True):
        first.setdefault(t, int(y))
    clf, _ = train_classifier("ngram", list(first), np.array(list(first.values())))
    keep_of = dict(zip(first, clf.predict(list(first)).astype(bool), strict=True))
    keep = pa.table({"event_id": world.events.column("event_id"),
                     "keep": pa.array([keep_of[t] for t in texts])})  # fmt: skip
    shutil.rmtree(path / "oracle")
    (path / "test_clicks.parquet").unlink()
    return path, KeepLookup(keep)


@pytest.fixture(scope="module")
def world(world_dir):
    return load_world(world_dir[0], parts=("news", "events", "users"))


@pytest.fixture(scope="module")
def model(world, world_dir):
    return build_rewards(world, RewardConfig(), clean_fn=world_dir[1])


def own_list(view, n=5):
    """n diverse queries from the user's own shown behaviours (searches first, then browse and
    click texts; a text too close to a chosen one, cosine > 0.6, is skipped)."""
    seen, cands = set(), []
    for d in ("search", "browse", "click"):
        for t in [t for dd, t in zip(view.domains, view.texts, strict=True) if dd == d]:
            if t.lower() not in seen and len(t) <= 120:
                seen.add(t.lower())
                cands.append(t)
    vecs = embed(cands)
    chosen = []
    for i in range(len(cands)):
        if all(vecs[i] @ vecs[j] <= 0.6 for j in chosen):
            chosen.append(i)
        if len(chosen) == n:
            break
    for i in range(len(cands)):  # too few distinct topics: fill with the nearest leftovers
        if len(chosen) < n and i not in chosen:
            chosen.append(i)
    return [cands[i] for i in chosen[:n]]


@pytest.fixture(scope="module")
def probes(world, model):
    users = world.users.column("user_id").to_pylist()[:N_USERS]
    own = [own_list(model.views.view(u)) for u in users]
    users = [u for u, o in zip(users, own, strict=True) if len(o) == 5]
    own = [o for o in own if len(o) == 5]
    lists = {
        "own": [json.dumps(o) for o in own],
        "other": [json.dumps(own[(i + 1) % len(own)]) for i in range(len(own))],
        "generic": [json.dumps(GENERIC)] * len(own),
        # one on-topic query repeated 5 times: exactly (invalid: the format asks for 5 distinct
        # queries), and in the two valid forms of repeating it (docs/rewards.md, "The ordering
        # probe"): punctuation variants and filler-word paraphrases
        "repeated": [json.dumps([o[0]] * 5) for o in own],
        "punct": [json.dumps([o[0], f"{o[0]}.", f"{o[0]}!", f"{o[0]}?", f'"{o[0]}"']) for o in own],
        "near_dup": [
            json.dumps([o[0], f"{o[0]} news", f"{o[0]} latest", f"{o[0]} update", f"more {o[0]}"])
            for o in own
        ],
        "garbage": ["I think this user likes many things."] * len(own),
    }
    names = list(lists)
    r = model.score(users * len(names), [c for k in names for c in lists[k]])
    n = len(users)
    return {k: {"total": r.total[i * n : (i + 1) * n],
                **{s: r.raw[s][i * n : (i + 1) * n] for s in r.raw}}
            for i, k in enumerate(names)}  # fmt: skip


def test_probe_ordering_over_many_users(probes):
    """Issue 11's chain: own > another user's > generic > one query repeated n times, and
    unparsable text lowest. The exact repetition is not a list of n queries, so it is invalid
    and takes the floor total, the same as unparsable text (the floor rule makes that a tie);
    unparsable text is strictly below every valid list, the repeated forms that parse included."""
    assert len(probes["own"]["total"]) >= 30
    t = {k: v["total"] for k, v in probes.items()}
    means = {k: float(v.mean()) for k, v in t.items()}
    assert means["own"] > means["other"] > means["generic"] > means["repeated"], means
    assert (t["own"] > t["other"]).mean() >= 0.9
    assert (t["other"] > t["generic"]).mean() >= 0.95
    assert (t["generic"] > t["repeated"]).all()
    assert (t["repeated"] == 0).all() and (t["garbage"] == 0).all()  # the floor total
    for k in ("own", "other", "generic", "punct", "near_dup"):
        assert (t[k] > t["garbage"]).all(), k
    for k in ("punct", "near_dup"):  # repeating one topic loses to the user's own list
        assert means[k] < means["own"] - 0.5, means


def test_each_signal_moves_as_defined(probes):
    own, other, generic = probes["own"], probes["other"], probes["generic"]
    assert other["cov"].mean() < own["cov"].mean() - 0.4
    assert (other["cov"] <= own["cov"]).mean() >= 0.9
    assert generic["spec"].max() <= 0.2 and own["spec"].mean() >= 0.8
    assert (probes["garbage"]["struct"] == 0).all() and (probes["repeated"]["struct"] == 0).all()
    assert (probes["repeated"]["div"] == 0).all()  # invalid (duplicate queries): the floor
    # R_div of a repeated query that parses is about 0 (own lists: about 0.8)
    punct, near = probes["punct"], probes["near_dup"]
    assert (punct["struct"] == 1).all() and (near["struct"] == 1).all()
    assert punct["div"].mean() < 0.1 and punct["div"].max() < 0.2
    assert near["div"].mean() < 0.15 and own["div"].mean() > 0.6
    for rep in (punct, near):
        assert rep["cov"].mean() < own["cov"].mean() - 0.3
    assert own["align"].mean() > generic["align"].mean() + 0.1
    for probe in probes.values():
        for v in probe.values():
            assert np.isfinite(v).all()


def test_alignment_index_holds_only_training_window_articles(world, model):
    meta = world.meta
    published = dict(
        zip(column(world.news, "news_id"), column(world.news, "published"), strict=True)
    )
    assert model.index.window[1] == meta["train_end"] <= meta["test_start"]
    assert max(published[i] for i in model.index.ids) < meta["test_start"]
    test_rows = [i for i, p in enumerate(column(world.news, "published"))
                 if p >= meta["test_start"]]  # fmt: skip
    assert len(test_rows) > 100 and len(model.index) + len(test_rows) == world.news.num_rows
    titles = column(world.news, "title")
    ids = column(world.news, "news_id")
    test_ids = {ids[i] for i in test_rows}
    got, scores = retrieve(model.index, [titles[i] for i in test_rows[:50]], 10)
    assert not test_ids & set(got.ravel().tolist())
    # a training title finds its own article: the index does answer such queries
    train_i = next(
        i for i, p in enumerate(column(world.news, "published")) if p < meta["train_end"]
    )
    g, s = retrieve(model.index, [titles[train_i]], 1)
    assert g[0, 0] == ids[train_i] or s[0, 0] > 0.999


def test_view_is_what_the_prompt_shows(world, world_dir):
    from jaxinterest.tokenizer import tiny_tokenizer

    tok, cfg = tiny_tokenizer(), PromptConfig(max_prompt_tokens=300)
    views = ViewBuilder(world, world_dir[1], tok, cfg)
    ids, offsets = world.user_slices()
    for k in range(0, 40, 8):
        ev = world.events.slice(int(offsets[k]), int(offsets[k + 1] - offsets[k]))
        ev = ev.filter(pa.array(world_dir[1](ev)))
        p = render_prompt(column(ev, "domain"), column(ev, "text"), column(ev, "url"),
                          np.asarray(column(ev, "timestamp")), tok, cfg)  # fmt: skip
        v = views.view(ids[k])
        assert sum(p.n_events.values()) == len(v) < len(ev)  # the budget truncated it
        assert v.context() in p.messages[1]["content"]


def test_rewards_package_never_reads_the_oracle():
    from pathlib import Path

    import jaxinterest.rewards as pkg

    for f in Path(pkg.__file__).parent.glob("*.py"):
        src = f.read_text()
        for word in ("load_oracle_interests", "load_noise_labels", "interests.parquet",
                     "noise_labels", "test_clicks"):  # fmt: skip
            code = [ln for ln in src.splitlines() if word in ln and "never" not in ln]
            assert not code, (f.name, word, code)


def test_bad_completions_get_floors_and_unknown_users_raise(world, model):
    u = world.users.column("user_id").to_pylist()[0]
    big = json.dumps(["x" * 200_000] * 5)  # a 1 MB completion
    bad = ["", "   ", None, big, '["a", "b"', '\ud800 ["lone surrogate"]', "x" * 1_000_000]
    r = model.score([u] * len(bad), bad)
    assert not r.valid.any() and (r.total == 0).all()
    for s in r.raw:
        assert (r.raw[s] == 0).all() and (r.norm[s] == 0).all()
    assert r.reasons[0] == "empty output" and "UTF-8" in r.reasons[5]
    with pytest.raises(KeyError, match="user_ids\\[1\\] = 'nobody'"):
        model.score([u, "nobody"], ["[]", "[]"])
    with pytest.raises(ValueError, match="2 user ids for 1 completions"):
        model.score([u, u], ["[]"])


def test_rubric_resists_simple_gaming(world, model):
    """One query naming every theme covers at most one theme; made-up words are not specific."""
    users = world.users.column("user_id").to_pylist()[:12]
    own = [own_list(model.views.view(u)) for u in users]
    concat = [json.dumps([" ".join(o)[:120], *GENERIC[:4]]) for o in own]
    gibberish = json.dumps(["xqzv plombr", "vrrtk zzxq", "qwop flarn", "zibb drantu", "kroo vesp"])
    r_own = model.score(users, [json.dumps(o) for o in own])
    r_cat = model.score(users, concat)
    r_gib = model.score(users, [gibberish] * len(users))
    for i, u in enumerate(users):
        assert r_cat.raw["cov"][i] <= 1 / len(model.themes(u)) + 1e-6
    assert r_cat.raw["cov"].mean() < r_own.raw["cov"].mean()
    assert (r_gib.raw["spec"] == 0).all() and (r_gib.total < r_own.total).all()


def test_bounded_user_states_recompute_evicted_users(world, model):
    """user_cache_size=2 keeps at most 2 users' states; evicted users are recomputed on their
    next batch and score as in the unbounded model (to 1e-5: the encoder's output differs by
    ~1.5e-7 between batch shapes, measured, and the two models embed in different batches)."""
    from dataclasses import replace

    from jaxinterest.rewards import RewardModel

    cfg = replace(model.cfg, user_cache_size=2)
    small = RewardModel(cfg, model.index, model.stats, model.views, model.title_vecs,
                        model.title_row, model.encoder)  # fmt: skip
    users = world.users.column("user_id").to_pylist()[:5]
    comps = [json.dumps(own_list(model.views.view(u))) for u in users]
    want = model.score(users, comps).total
    first = small.score(users, comps)  # 5 users in one batch: all scored, 2 kept
    assert len(small.states) == 2 and first.info["n_new_users"] == 5
    again = small.score(users[::-1], comps[::-1])  # the 3 evicted ones are recomputed
    assert again.info["n_new_users"] == 3 and len(small.states) == 2
    np.testing.assert_allclose(first.total, want, atol=1e-5)
    np.testing.assert_allclose(again.total[::-1], want, atol=1e-5)
    small.states.clear()
    small.prepare(users)  # more users than the cache: only the first 2 are prepared
    assert list(small.states.data) == users[:2]
