"""The code is ruff-formatted and lint-clean (the same check CI runs)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["jaxinterest", "tests", "bench", "experiments"]


def _ruff():
    exe = Path(sys.executable).parent / "ruff"
    return str(exe) if exe.exists() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is in the dev extra")
@pytest.mark.parametrize("check", [["format", "--check"], ["check"]])
def test_ruff(check):
    out = subprocess.run([_ruff(), *check, *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
