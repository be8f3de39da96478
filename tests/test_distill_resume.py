"""`jaxinterest distill` resumes bitwise: N steps straight vs a run SIGKILLed after its first
checkpoint and rerun with the same command give identical student params and identical
per-step metrics (timings aside). Real subprocesses, the real CLI; slow (each process compiles
the sampler and the update step)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from jaxinterest.data.world import generate_world, make_config

STEPS = 5
TIMINGS = ("s_sample", "s_teacher", "s_update", "sample_tokens_per_s")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("distill") / "world"
    generate_world(make_config("tiny", seed=2, n_news=800, n_users=60), path, progress=False)
    return path


def command(world: Path, out: Path, estimator: str) -> list[str]:
    sets = ["batch_size=2", "samples=2", "max_new_tokens=6", "validate=false",
            "checkpoint_every=1", "keep_last=2", "log_every=1", "seed=3"]  # fmt: skip
    return [
        sys.executable, "-m", "jaxinterest.cli", "distill", "--world", str(world),
        "--teacher", "preset:tiny-1m", "--student", "preset:tiny-1m", "--out", str(out),
        "--steps", str(STEPS), "--estimator", estimator, "--no-progress",
        *[a for s in sets for a in ("--set", s)],
    ]  # fmt: skip


def env():
    e = dict(os.environ, JAX_PLATFORMS="cpu")
    e.pop("XLA_FLAGS", None)  # one device, as a user runs it
    return e


def rows(out: Path) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMINGS} for x in lines]


@pytest.mark.slow  # about 4 minutes per estimator on 2 loaded cores (three compiling processes)
@pytest.mark.parametrize("estimator", ["exact", "sampled"])
def test_sigkill_and_resume_is_bitwise(world, tmp_path, estimator):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(command(world, straight, estimator), env=env(), check=True,
                   capture_output=True, timeout=900)  # fmt: skip
    proc = subprocess.Popen(command(world, killed, estimator), env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ckpts = killed / "checkpoints"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if ckpts.is_dir() and any(p.name.isdigit() for p in ckpts.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())
    assert done and max(done) < STEPS
    assert not (killed / "policy").exists()
    subprocess.run(command(world, killed, estimator), env=env(), check=True,
                   capture_output=True, timeout=900)  # fmt: skip

    a = load_file(straight / "policy" / "model.safetensors")
    b = load_file(killed / "policy" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ra, rb = rows(straight), rows(killed)
    assert [r["step"] for r in rb] == list(range(1, STEPS + 1))
    assert ra == rb
    assert all(np.isfinite(r["teacher_kl"]) and r["loss"] == r["loss"] for r in ra)
