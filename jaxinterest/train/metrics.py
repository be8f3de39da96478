"""Metrics logging: JSON lines, plus TensorBoard event files when tensorboardX is importable.

`add(step, metrics)` only keeps references to the (device) arrays; every `log_every` steps one
`jax.device_get` brings the buffered steps to the host and writes them, so the training loop
never blocks on a scalar (a `float(loss)` per step would serialise host and device).

One line per step: {"step": s, name: value, ...}. Reopening a file with `resume_step=s`
drops the lines after step s (a resumed run rewrites them, so the file stays one line per step).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import jax
import numpy as np


def _plain(v):
    v = np.asarray(v)
    if v.size != 1:
        return v.tolist()
    v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/inf
    return v


class MetricsWriter:
    """path: the JSONL file. log_every: flush cadence in `add` calls. tensorboard: a directory
    for event files, or None; ignored (with `tensorboard_active` False) when tensorboardX is not
    installed. Only the primary process should write (`train.distributed.is_primary`)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        log_every: int = 10,
        tensorboard: str | os.PathLike | None = None,
        resume_step: int | None = None,
    ):
        if log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {log_every}")
        self.path, self.log_every = Path(path), log_every
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept))
        self._file = self.path.open("a")
        self._pending: list[tuple[int, dict]] = []
        self._tb = None
        if tensorboard is not None:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                pass
            else:
                self._tb = SummaryWriter(str(tensorboard))

    @property
    def tensorboard_active(self) -> bool:
        return self._tb is not None

    def add(self, step: int, metrics: dict) -> None:
        """Buffers one step's metrics ({name: scalar array or number}); writes every
        `log_every` calls."""
        self._pending.append((int(step), dict(metrics)))
        if len(self._pending) >= self.log_every:
            self.flush()

    def flush(self) -> None:
        """Writes every buffered step (one host transfer for all of them)."""
        if not self._pending:
            return
        pending = jax.device_get(self._pending)
        self._pending = []
        for step, metrics in pending:
            row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
            self._file.write(json.dumps(row) + "\n")
            if self._tb is not None:
                for k, v in row.items():
                    if k != "step" and isinstance(v, int | float):
                        self._tb.add_scalar(k, v, step)
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a metrics JSONL file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
