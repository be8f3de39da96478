"""Checkpoints with Orbax: the train state, the data iterator's state and the resolved config.

One step directory holds three items:
  state   params, optimiser state, step, skipped count and the RNG key (as its raw key data),
          written shard by shard from every process;
  data    an opaque JSON-able dict: the data iterator's position (Grain's `get_state()`);
  config  the resolved run config as JSON (`jaxinterest.config.to_dict`).

Atomic: Orbax writes a step into a temporary directory and renames it when complete, and only
finalised steps are listed, so a process killed mid-save leaves the previous step as the latest
(the half-written directory is removed when a Checkpointer next opens the directory).
Retention: the last `keep_last` steps plus, when `best_metric` is given, the best step by that
metric (from the `metrics` passed to `save`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, NamedTuple

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp

from jaxinterest.train.state import TrainState

ITEMS = ("state", "data", "config")


class Restored(NamedTuple):
    """What `Checkpointer.restore` returns."""

    step: int
    state: TrainState
    data_state: dict
    config: dict


def _to_tree(state: TrainState) -> dict:
    """The saved form: a plain dict, the typed key as its uint32 key data."""
    return {
        "params": state.params,
        "opt_state": state.opt_state,
        "step": state.step,
        "skipped": state.skipped,
        "rng": jax.random.key_data(state.rng),
    }


def _abstract_tree(abstract: TrainState) -> dict:
    rng = abstract.rng
    data = jax.eval_shape(jax.random.key_data, rng)
    return {
        "params": abstract.params,
        "opt_state": abstract.opt_state,
        "step": abstract.step,
        "skipped": abstract.skipped,
        "rng": jax.ShapeDtypeStruct(
            data.shape, data.dtype, sharding=getattr(rng, "sharding", None)
        ),
    }


class Checkpointer:
    """Saves and restores `TrainState`s under one run directory.

    keep_last: how many of the latest steps to keep. best_metric / best_mode ("max"|"min"):
    also keep the best step by `metrics[best_metric]`. async_save: write in a background thread
    (call `wait()` before reading the files, `close()` at the end).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        keep_last: int = 3,
        best_metric: str | None = None,
        best_mode: str = "max",
        async_save: bool = True,
    ):
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
        self.best_metric, self.best_mode = best_metric, best_mode
        policies = [pp.LatestN(n=keep_last)]
        if best_metric is not None:
            policies.append(
                pp.BestN(
                    get_metric_fn=lambda m: m[best_metric],
                    reverse=best_mode == "min",  # BestN keeps the end of an ascending sort
                    n=1,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=pp.AnyPreservationPolicy(policies),
            # best_fn makes Orbax write each step's metrics beside it (read back on reopen,
            # so a resumed run still knows its best step); retention is the policy above.
            best_fn=None if best_metric is None else (lambda m: m[best_metric]),
            best_mode=best_mode,
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
            create=True,
        )
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=ITEMS)

    def save(
        self,
        state: TrainState,
        *,
        data_state: dict | None = None,
        config: Any = None,
        metrics: dict | None = None,
        force: bool = True,
    ) -> bool:
        """Saves `state` as step `state.step`. config: a dataclass or JSON-able dict. metrics:
        {name: number}, used for best-by-metric retention. Returns whether a save started."""
        if dataclasses.is_dataclass(config):
            from jaxinterest.config import to_dict

            config = to_dict(config)
        if metrics is not None:
            metrics = {k: float(v) for k, v in metrics.items()}
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(_to_tree(state)),
            data=ocp.args.JsonSave(data_state or {}),
            config=ocp.args.JsonSave(config or {}),
        )
        return self._manager.save(int(state.step), args=args, metrics=metrics, force=force)

    def restore(self, abstract_state: TrainState, step: int | None = None) -> Restored:
        """Restores step `step` (default: the latest) into the layout of `abstract_state`
        (`train.state.abstract_state`, with shardings attached for a sharded restore)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no finished checkpoint in {self.directory}")
        if step not in self.all_steps():
            raise FileNotFoundError(
                f"no checkpoint for step {step} in {self.directory}; have {self.all_steps()}"
            )
        out = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_abstract_tree(abstract_state)),
                data=ocp.args.JsonRestore(),
                config=ocp.args.JsonRestore(),
            ),
        )
        tree = out["state"]
        state = TrainState(
            params=tree["params"],
            opt_state=tree["opt_state"],
            step=tree["step"],
            skipped=tree["skipped"],
            rng=jax.random.wrap_key_data(tree["rng"]),
        )
        return Restored(step, state, dict(out["data"] or {}), dict(out["config"] or {}))

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The kept step with the best `best_metric` (None without a metric or any step)."""
        if self.best_metric is None:
            return None
        scored = []
        for s in self.all_steps():
            m = self._manager.metrics(s)
            if m and self.best_metric in m:
                scored.append((m[self.best_metric], s))
        if not scored:
            return None
        return (max if self.best_mode == "max" else min)(scored)[1]

    def wait(self) -> None:
        """Blocks until a background save has finished."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
