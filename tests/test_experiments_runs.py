"""The issue's proofs of the experiment infrastructure, with the real script and real processes:

- reproduce: a Table 2 run (reference rows on a tiny world) rerun from its manifest gives the
  same metrics bit for bit; with another seed, the seeded row's metrics are reported and the
  seed-free rows are not;
- sweep: a sweep killed (SIGKILL, whole process group) while a cell runs, then rerun, runs only
  the cells that had not finished: the finished one is skipped, the killed one resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxinterest.data.world import generate_world, make_config
from jaxinterest.experiments.manifest import read_manifest, run_status
from jaxinterest.experiments.reproduce import reproduce

ROOT = Path(__file__).resolve().parents[1]
TABLE2 = ROOT / "experiments" / "table2_main.py"
SWEEP = ROOT / "experiments" / "sweep.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("exp") / "world"
    generate_world(make_config("tiny", seed=4, n_news=800, n_users=60), path, progress=False)
    return path


def env():
    e = dict(os.environ, JAX_PLATFORMS="cpu")
    e.pop("XLA_FLAGS", None)  # one device, as a user runs it
    return e


def sets(world: Path, rows: str) -> list[str]:
    return ["--set", f"world.path={world}", "--set", f"rows={rows}", "--quiet"]


def test_reproduce_same_seed_identical_other_seed_differs(world, tmp_path):
    run = tmp_path / "t2"
    cmd = [
        sys.executable,
        str(TABLE2),
        "--out",
        str(run),
        *sets(world, "popularity,shuffled_searches"),
    ]
    subprocess.run(cmd, env=env(), check=True, capture_output=True, timeout=600)
    man = read_manifest(run)
    assert man["status"] == "finished" and man["script"] == "experiments/table2_main.py"
    assert man["seeds"]["seed"] == 0 and man["config"]["rows"] == [
        "popularity",
        "shuffled_searches",
    ]

    same = reproduce(run, timeout=600)
    assert same["identical"], same["differences"]
    assert same["compared"] == 2 * 2 * 7  # rows x cohorts x (5 metrics + 2 stderrs)

    other = reproduce(run, overrides=["seed=1"], timeout=600)
    assert not other["identical"]
    keys = {d["key"] for d in other["differences"]}
    assert keys and all(k.startswith("rows.shuffled_searches.") for k in keys)
    assert "rows.shuffled_searches.all.recall@10" in keys
    assert read_manifest(other["rerun"])["seeds"]["seed"] == 1


def test_sweep_killed_and_rerun_runs_only_missing_cells(world, tmp_path):
    out = tmp_path / "sweep"
    cmd = [sys.executable, str(SWEEP), str(TABLE2), "--out", str(out), "--seeds", "0,1,2",
           "--", "--set", f"world.path={world}", "--set", "rows=shuffled_searches"]  # fmt: skip
    names = [f"seed={s}" for s in range(3)]
    proc = subprocess.Popen(cmd, env=env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if run_status(out / names[0]) == "finished" and run_status(out / names[1]) == "running":
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and the cell it runs
    proc.wait()
    assert [run_status(out / n) for n in names] == ["finished", "running", "new"]
    before = len((out / "sweep_log.jsonl").read_text().splitlines())

    subprocess.run(cmd, env=env(), check=True, capture_output=True, timeout=900)
    log = [json.loads(x) for x in (out / "sweep_log.jsonl").read_text().splitlines()][before:]
    assert [(e["cell"], e["action"]) for e in log] == [
        (names[0], "skipped"), (names[1], "ran"), (names[2], "ran"),
    ]  # fmt: skip
    assert all(run_status(out / n) == "finished" for n in names)
    outcomes = [a["outcome"] for a in read_manifest(out / names[1])["attempts"]]
    assert outcomes == ["running", "finished"]  # the killed attempt, then the resumed one
    assert len(read_manifest(out / names[0])["attempts"]) == 1
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["cells"] == {n: "finished" for n in names}
