"""The update step sharded over 8 simulated devices (each rule set), and run as 2 processes,
gives the one-device result."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from jaxinterest import sharding as shd
from jaxinterest.models.qwen2 import param_axes
from jaxinterest.train.distributed import shard_batch
from jaxinterest.train.state import create_state, state_shardings
from jaxinterest.train.step import make_train_step
from tests import train_helpers as th

ROOT = Path(__file__).resolve().parents[1]
ROWS = 16  # two micro-batches of 8: one row per device and micro-batch under dp


def batches():
    out = []
    for seed in (0, 1):
        b = th.grpo_batch(th.params(), seed=seed)
        b2 = th.grpo_batch(th.params(), seed=seed + 10)
        out.append({k: np.concatenate([b[k], b2[k]]) for k in b})
    return out


@pytest.fixture(scope="module")
def reference():
    """Two steps with 2 micro-batches on one device: params and metrics."""
    state, metrics = th.fresh_state(), []
    for batch in batches():
        state, m = th.step("grpo", 2)(state, batch)
        metrics.append(jax.device_get(m))
    return jax.tree.map(np.array, state.params), metrics


def assert_same(params, metrics, reference):
    ref_params, ref_metrics = reference
    for got, want in zip(metrics, ref_metrics, strict=True):
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-7, err_msg=k)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6), params, ref_params
    )


@pytest.mark.parametrize(
    "rules,mesh_shape", [("dp", (8, 1, 1)), ("fsdp", (2, 4, 1)), ("fsdp_tp", (2, 2, 2))]
)
def test_sharded_step_equals_one_device(reference, rules, mesh_shape):
    assert jax.device_count() == 8, "tests/conftest.py should give 8 simulated devices"
    mesh = shd.make_mesh(mesh_shape)
    sh = state_shardings(th.fresh_state(), th.OPTIMIZER, param_axes(th.CFG), mesh, rules)
    state = create_state(th.params(), th.OPTIMIZER, jax.random.key(7), sh)
    step = make_train_step(
        th.OBJECTIVES["grpo"],
        th.OPTIMIZER,
        micro_batches=2,
        schedule=th.SCHEDULE,
        state_shardings=sh,
        mesh=mesh,
    )
    metrics = []
    for batch in batches():
        placed = shard_batch(batch, mesh, rules)
        assert len(placed["tokens"].addressable_shards) == 8
        state, m = step(state, placed)
        metrics.append(jax.device_get(m))
    up = state.params["layers"]["up"]["kernel"]
    mu = state.opt_state[1][0].mu["layers"]["up"]["kernel"]
    want = {
        "dp": PartitionSpec(None, None, None),
        "fsdp": PartitionSpec(None, "fsdp", None),
        "fsdp_tp": PartitionSpec(None, "fsdp", "tensor"),
    }[rules]
    assert up.sharding.spec == want and mu.sharding.spec == want  # the layout survives the step
    assert_same(jax.tree.map(np.array, state.params), metrics, reference)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    """2 CPU processes on localhost (jax.distributed, gloo), params fsdp-sharded across them,
    each feeding its own half of the rows: the same params and losses as one process."""
    port, out = free_port(), tmp_path / "dist.npz"
    env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.train_worker",
                "dist",
                "--port",
                str(port),
                "--processes",
                "2",
                "--process-id",
                str(i),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        logs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    got = np.load(out)
    state, losses = th.fresh_state(), []
    for seed in (0, 1):
        state, m = th.step("grpo", 2)(state, th.grpo_batch(th.params(), seed=seed))
        losses.append(float(m["loss"]))
    np.testing.assert_allclose(got["['loss']"], losses, rtol=1e-5)
    flat = {
        jax.tree_util.keystr(p): np.asarray(x)
        for p, x in jax.tree_util.tree_leaves_with_path({"params": state.params})
    }
    assert set(flat) <= set(got.files) and len(flat) > 10
    for k, want in flat.items():
        np.testing.assert_allclose(got[k], want, rtol=0, atol=1e-6, err_msg=k)
