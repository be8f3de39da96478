"""Checkpoints: exact round trip, retention, sharded restore, a SIGKILL mid-save, and resume.

The last two run real subprocesses (tests/train_worker.py) and kill them with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import abstract_params, param_axes
from jaxinterest.train.checkpoint import Checkpointer
from jaxinterest.train.state import abstract_state, state_shardings
from tests import train_helpers as th

ROOT = Path(__file__).resolve().parents[1]


def host(tree):
    return jax.tree.map(np.array, tree)


def trained_state(steps=2):
    state, batch = th.fresh_state(), th.grpo_batch(th.params())
    for _ in range(steps):
        state, _ = th.step("grpo", 1)(state, batch)
    return state


def test_round_trip_is_exact(tmp_path):
    state = trained_state()
    with Checkpointer(tmp_path / "ck") as ck:
        ck.save(state, data_state={"next_index": 16}, config=th.OPTIM)
        ck.wait()
        got = ck.restore(abstract_state(abstract_params(th.CFG), th.OPTIMIZER))
    assert got.step == 2 and got.data_state == {"next_index": 16}
    assert got.config == dataclasses.asdict(th.OPTIM)
    assert jax.tree.structure(got.state) == jax.tree.structure(state)
    want = host((state.params, state.opt_state, state.step, state.skipped))
    have = host((got.state.params, got.state.opt_state, got.state.step, got.state.skipped))
    jax.tree.map(np.testing.assert_array_equal, have, want)
    np.testing.assert_array_equal(
        jax.random.key_data(got.state.rng), jax.random.key_data(state.rng)
    )
    with pytest.raises(FileNotFoundError, match="no finished checkpoint"):
        Checkpointer(tmp_path / "empty").restore(got.state)


def test_keeps_last_n_plus_best_across_reopen(tmp_path):
    state = th.fresh_state()
    scores = {1: 0.2, 2: 0.9, 3: 0.1, 4: 0.3, 5: 0.4, 6: 0.5}
    ck = Checkpointer(tmp_path, keep_last=2, best_metric="recall", async_save=False)
    for s, r in scores.items():
        ck.save(state.replace(step=np.int32(s)), metrics={"recall": r})
    assert ck.all_steps() == [2, 5, 6] and ck.best_step() == 2
    ck.close()
    # A resumed run still knows its best step (the metrics are stored with the steps).
    ck = Checkpointer(tmp_path, keep_last=2, best_metric="recall", async_save=False)
    assert ck.best_step() == 2
    ck.save(state.replace(step=np.int32(7)), metrics={"recall": 0.95})
    ck.save(state.replace(step=np.int32(8)), metrics={"recall": 0.0})
    assert ck.all_steps() == [7, 8] and ck.best_step() == 7
    with pytest.raises(FileNotFoundError, match="step 5"):
        ck.restore(abstract_state(abstract_params(th.CFG), th.OPTIMIZER), step=5)
    ck.close()
    low = Checkpointer(tmp_path / "min", keep_last=1, best_metric="loss", best_mode="min")
    for s, v in [(1, 0.5), (2, 0.1), (3, 0.7)]:
        low.save(state.replace(step=np.int32(s)), metrics={"loss": v})
    low.wait()
    assert low.all_steps() == [2, 3] and low.best_step() == 2


def test_restore_straight_into_shards(tmp_path):
    state = trained_state(1)
    with Checkpointer(tmp_path) as ck:
        ck.save(state)
        ck.wait()
        mesh = shd.make_mesh((2, 2, 2))
        abstract = abstract_state(abstract_params(th.CFG), th.OPTIMIZER)
        sh = state_shardings(abstract, th.OPTIMIZER, param_axes(th.CFG), mesh, "fsdp_tp")
        target = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, sh
        )
        got = ck.restore(target).state
    mu = got.opt_state[1][0].mu["layers"]["up"]["kernel"]
    assert mu.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", "tensor")
    assert mu.addressable_shards[0].data.size == mu.size // 4
    jax.tree.map(np.testing.assert_array_equal, host(got.params), host(state.params))


def run_worker(*args, cache=None, **kw):
    """A tests.train_worker subprocess on one CPU device. cache: a persistent compilation
    cache directory shared by the runs of one test (later runs skip compiling the step)."""
    env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
    if cache is not None:
        env |= {
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.train_worker", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def wait_for(proc, text, timeout=300):
    """Reads the worker's output until a line starting with `text`; returns the lines."""
    lines, start = [], time.monotonic()
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith(text):
            return lines
        assert time.monotonic() - start < timeout, lines
    raise AssertionError(f"worker ended before {text!r}:\n" + "\n".join(lines[-30:]))


def test_sigkill_during_save_keeps_the_previous_checkpoint(tmp_path):
    proc = run_worker("bigsave", "--ckpt", tmp_path)
    try:
        wait_for(proc, "saving 2")
        deadline = time.monotonic() + 60
        while not any("tmp" in p.name for p in tmp_path.iterdir()):  # the half-written step
            assert time.monotonic() < deadline, list(tmp_path.iterdir())
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "2").exists()
    ck = Checkpointer(tmp_path)
    assert ck.latest_step() == 1 and ck.all_steps() == [1]
    import jax.numpy as jnp

    from jaxinterest.train.state import TrainState

    shape = TrainState(
        {"w": jax.ShapeDtypeStruct((1000,), jnp.float32)},
        (),
        jax.ShapeDtypeStruct((), jnp.int32),
        jax.eval_shape(lambda: jax.random.key(0)),
        jax.ShapeDtypeStruct((), jnp.int32),
    )
    got = ck.restore(shape)
    assert got.data_state == {"at": 1} and np.all(np.asarray(got.state.params["w"]) == 1.0)
    assert not any("tmp" in p.name for p in tmp_path.iterdir())  # cleaned on reopen
    ck.close()


def test_resume_after_sigkill_is_bitwise_identical(tmp_path):
    """6 steps straight vs 3 steps + SIGKILL + resume: identical params and optimiser state."""
    cache = tmp_path / "xla-cache"

    def loop(name):
        out = ("--out", tmp_path / f"{name}.npz")
        return run_worker("loop", "--ckpt", tmp_path / name, "--steps", 6, *out, cache=cache)

    straight = loop("a")
    out, _ = straight.communicate(timeout=600)
    assert straight.returncode == 0, out

    proc = loop("b")
    try:
        wait_for(proc, "step 3")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert not (tmp_path / "b.npz").exists()
    resumed = loop("b")
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    at = int(next(line for line in out.splitlines() if line.startswith("resumed")).split()[1])
    assert 2 <= at < 6, out  # resumed mid-run, from a finished step
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(a.files) == sorted(b.files) and len(a.files) > 10
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
