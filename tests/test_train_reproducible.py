"""GRPO reproduces across processes, bit for bit.

The reward of a (user, completion) pair must be a pure function of the pair: not of the process
(PYTHONHASHSEED differs per process), nor of which other texts the reward model happened to embed
in the same encoder call (that depends on its caches, so on the run's history: a resumed run
starts with empty caches). The chain below each test:

- a text's embedding does not depend on the batch it is embedded in (embed.py pads every text to
  its own length bucket and every batch of a bucket to the same rows);
- two fresh processes with different hash seeds and opposite histories (one prepares every user
  and scores all pairs in one call with the caches on; the other scores them in reverse order,
  three at a time, with both caches off) give bitwise-equal rewards;
- (slow) `jaxinterest grpo` for 2 iterations straight, and (with the reward caches off) stopped
  after 1 iteration then resumed in a third process, give bitwise-equal params and
  per-iteration metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
N_USERS = 10


def run_python(code: str, hash_seed: int, timeout: float = 900) -> subprocess.Popen:
    """A fresh interpreter running `code` from the repository root with PYTHONHASHSEED set."""
    env = os.environ | {"PYTHONHASHSEED": str(hash_seed), "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def wait_ok(proc: subprocess.Popen, timeout: float = 900) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{out}\n{err[-4000:]}"


# ---- embed: a row depends on its own text alone -------------------------------------------


def test_embed_row_does_not_depend_on_its_batch():
    from jaxinterest.embed import embed

    rng = np.random.default_rng(0)
    words = "storm vote court film chip rocket market goal city fire school team".split()
    # 1 to 40 words: token lengths across the 8, 16, 32 and 64 buckets
    texts = [" ".join(rng.choice(words, size=n)) for n in (1, 3, 6, 12, 20, 40)]
    others = [" ".join(rng.choice(words, size=rng.integers(1, 45))) for _ in range(24)]
    alone = np.stack([embed([t])[0] for t in texts])
    together = embed(texts)
    mixed = embed(others[:12] + texts[::-1] + others[12:])[12 : 12 + len(texts)][::-1]
    assert np.array_equal(alone, together)
    assert np.array_equal(alone, mixed)


# ---- rewards: fresh processes, different hash seeds and histories -------------------------


def score_worker(world: str, pairs: str, out: str, mode: str) -> None:
    """Runs in a subprocess: rewards of the (user, completion) pairs in `pairs` (JSON), in the
    input order, saved to `out` (.npz). mode "together": every user prepared up front, all pairs
    in one score call, caches on; "apart": reverse order, 3 pairs per call, no caches."""
    from jaxinterest.rewards import RewardConfig, build_rewards

    users, completions = json.loads(Path(pairs).read_text())
    n = len(users)
    if mode == "together":
        model = build_rewards(world, RewardConfig())
        model.prepare(sorted(set(users)))
        parts = [(np.arange(n), model.score(users, completions))]
    else:
        model = build_rewards(world, RewardConfig(text_cache_size=0, user_cache_size=0))
        order = np.arange(n)[::-1]
        parts = [
            (rows, model.score([users[i] for i in rows], [completions[i] for i in rows]))
            for rows in np.array_split(order, int(np.ceil(n / 3)))
        ]
    arrays = {"total": np.zeros(n, np.float32)} | {s: np.zeros(n, np.float32) for s in
                                                    parts[0][1].raw}  # fmt: skip
    for rows, r in parts:
        arrays["total"][rows] = r.total
        for s, v in r.raw.items():
            arrays[s][rows] = v
    np.savez(out, **arrays)


@pytest.fixture(scope="module")
def micro_world(tmp_path_factory):
    """A 10-user world with the fewest articles the generator allows (20 per day)."""
    from jaxinterest.data.world import generate_world, make_config

    path = tmp_path_factory.mktemp("micro_world")
    cfg = make_config("tiny", n_users=N_USERS, n_news=20 * 37, entities_per_category=4)
    generate_world(cfg, path, progress=False)
    return path


def completions_of(world_dir: Path) -> tuple[list[str], list[str]]:
    """Per user: their own five distinct behaviour texts, three own + two of the next user's,
    the own list with filler words, and an unparsable answer."""
    from jaxinterest.data.io import load_world
    from jaxinterest.rewards import ViewBuilder

    views = ViewBuilder(load_world(world_dir, parts=("events", "users")))
    ids = list(views.rows)
    own = {u: list(dict.fromkeys(t[:100] for t in views.view(u).texts))[:5] for u in ids}
    users, completions = [], []
    for i, u in enumerate(ids):
        nxt = own[ids[(i + 1) % len(ids)]]
        for answer in (
            json.dumps(own[u]),
            json.dumps(own[u][:3] + nxt[:2]),
            json.dumps([f"latest {q} news" for q in own[u]]),
            "I like many things",
        ):
            users.append(u)
            completions.append(answer)  # fmt: skip
    return users, completions


def test_rewards_are_bitwise_equal_across_processes_and_histories(micro_world, tmp_path):
    users, completions = completions_of(micro_world)
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([users, completions]))
    procs = {}
    for seed, mode in ((11, "together"), (22, "apart")):
        code = (
            "from tests.test_train_reproducible import score_worker; "
            f"score_worker({str(micro_world)!r}, {str(pairs)!r}, "
            f"{str(tmp_path / mode)!r} + '.npz', {mode!r})"
        )
        procs[mode] = run_python(code, seed)
    for p in procs.values():
        wait_ok(p)
    a, b = np.load(tmp_path / "together.npz"), np.load(tmp_path / "apart.npz")
    assert sorted(a.files) == sorted(b.files) and "align" in a.files
    for name in a.files:
        diff = np.flatnonzero(a[name] != b[name])
        assert diff.size == 0, (
            f"{name} differs at {diff[:5]}: {a[name][diff[:5]]} {b[name][diff[:5]]}"
        )
    # the rewards are not degenerate: own lists are valid and score above the unparsable ones
    assert a["struct"].sum() >= 2 * N_USERS and np.ptp(a["align"]) > 0 and np.ptp(a["cov"]) > 0


# ---- the GRPO command: straight vs stopped and resumed, three processes -------------------

VOLATILE = ("seconds", "per_s", "val_")  # wall-clock fields, and validation (run at the end)


def training_rows(out: Path) -> list[dict]:
    from jaxinterest.train.metrics import read_metrics

    rows = read_metrics(out / "metrics.jsonl")
    return [{k: v for k, v in r.items() if not any(s in k for s in VOLATILE)} for r in rows]


@pytest.mark.slow
def test_grpo_straight_and_resumed_runs_are_bitwise_equal(tmp_path_factory):
    """World, cleaning and the quickstart's SFT, then three GRPO processes of the quickstart's
    recipe (8 users x 4 samples, 2 inner epochs): 1,043 s at load 10-26 on 2 cores."""
    import dataclasses

    from safetensors.numpy import load_file

    from jaxinterest.config import save_config
    from jaxinterest.train import quickstart as qs

    root = tmp_path_factory.mktemp("reproducible")
    ctx = qs.Context(qs.QuickstartConfig(out=str(root)), root, {}, progress=False)
    for stage in qs.STAGES:
        if stage.name in ("world", "clean", "sft"):
            ctx.results[stage.name] = stage.run(ctx)
    cfg = dataclasses.replace(qs.grpo_config(ctx), steps=2, eval_every=0, checkpoint_every=1)
    save_config(cfg, root / "grpo.json")

    def grpo(out: Path, hash_seed: int, *extra: str) -> subprocess.Popen:
        argv = ["grpo", "--config", str(root / "grpo.json"), "--out", str(out), "--quiet", *extra]
        return run_python(f"import sys; from jaxinterest.cli import main; sys.exit(main({argv!r}))",
                          hash_seed)  # fmt: skip

    # the straight run keeps the reward model's caches on (GRPOConfig's default); the second
    # turns them off: a cache must not change a bit
    no_cache = ["--set", "rewards.text_cache_size=0", "--set", "rewards.user_cache_size=0"]
    straight = grpo(root / "straight", 1)
    first = grpo(root / "resumed", 2, *no_cache, "--set", "steps=1")
    wait_ok(straight, 3600)
    wait_ok(first, 3600)
    wait_ok(grpo(root / "resumed", 3, *no_cache, "--resume"), 3600)
    a, b = training_rows(root / "straight"), training_rows(root / "resumed")
    assert [r["step"] for r in a] == [0, 1] and a == b
    # the rewards moved the policy: some group had a non-zero advantage
    assert max(r["advantage_std"] for r in a) > 0
    pa = load_file(root / "straight" / "policy" / "model.safetensors")
    pb = load_file(root / "resumed" / "policy" / "model.safetensors")
    sft = load_file(root / "sft" / "policy" / "model.safetensors")
    assert pa.keys() == pb.keys()
    for name in pa:
        assert np.array_equal(pa[name], pb[name]), name
    assert any(not np.array_equal(pa[n], sft[n]) for n in pa)
