"""Multi-process (multi-host) set-up and batch placement.

The same training code runs as one process or as several: call `initialize` first in every
process (same coordinator address, one `process_id` each), build the mesh over
`jax.devices()` (all processes' devices), and give `shard_batch` each process's own rows. Every
process then runs the same jitted step; collectives (gradient all-reduce, fsdp gathers) cross
process boundaries inside XLA. On CPU the collectives are gloo's.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh

from jaxinterest import sharding as shd


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """`jax.distributed.initialize` (before any other JAX call). Without arguments, JAX reads
    the cluster from the environment (SLURM, Open MPI, TPU pods, JAX_COORDINATOR_ADDRESS ...)."""
    given = [coordinator_address is None, num_processes is None, process_id is None]
    if any(given) and not all(given):
        raise ValueError(
            "give coordinator_address, num_processes and process_id together, or none of them"
        )
    if num_processes is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id {process_id} outside [0, {num_processes})")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def is_primary() -> bool:
    """True in process 0: the one that writes logs and reports (checkpoints are written by all)."""
    return jax.process_index() == 0


def shard_batch(batch, mesh: Mesh, rules: shd.Rules | str):
    """Places a host batch ({name: [rows, ...]} numpy arrays) on the mesh, rows split by the
    `batch` rule. In a multi-process run each process passes its own rows (the global batch is
    their concatenation in process order); in one process, the whole batch."""
    if isinstance(rules, str):
        rules = shd.get_rules(rules)
    n = jax.process_count()

    def put(x):
        x = np.asarray(x)
        sharding = shd.batch_sharding(mesh, rules, x.ndim, x.shape[0] * n)
        if n == 1:
            return jax.device_put(x, sharding)
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree.map(put, batch)
