"""Subprocess side of the train tests (run as `python -m tests.train_worker MODE ...`).

loop    a small resumable training loop over the real step, Grain iterator and Checkpointer:
        restores the latest checkpoint if there is one, trains to --steps, checkpoints every
        step (data iterator state and config included), prints "step N" after each save starts,
        and writes the final params to --out.
bigsave saves a small step 1, then starts saving a large step 2 and prints "saving 2"
        (the test SIGKILLs it mid-write).
dist    one process of a --processes-process run: jax.distributed on localhost, params
        fsdp-sharded over every process's device, each process feeding its own rows; two
        update steps; process 0 writes the gathered params and metrics to --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def _save_tree(path, tree):
    import jax

    flat = {
        jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)
    }
    np.savez(path, **flat)


def batch_for(indices, params):
    """A GRPO batch that depends only on the record indices (and pi_old on params)."""
    from tests import train_helpers as th

    batch = th.packed(int(indices[0]))
    batch["old_logp"] = np.asarray(th.LOGPROB(params, batch))
    batch["ref_logp"] = batch["old_logp"] - 0.05 * batch["completion_mask"]
    batch["advantages"] = (np.asarray(indices, np.float32) % 5 - 2.0) / 2.0
    return batch


def loop(args) -> None:
    import grain

    from jaxinterest.models.qwen2 import abstract_params
    from jaxinterest.train.checkpoint import Checkpointer
    from jaxinterest.train.state import abstract_state
    from tests import train_helpers as th

    data = grain.MapDataset.range(10_000).shuffle(seed=3).batch(th.ROWS).to_iter_dataset()
    it = iter(data)
    ckpt = Checkpointer(args.ckpt, keep_last=2)
    if ckpt.latest_step() is not None:
        restored = ckpt.restore(abstract_state(abstract_params(th.CFG), th.OPTIMIZER))
        state = restored.state
        it.set_state(restored.data_state)
        assert restored.config == {"steps": args.steps}, restored.config
        print(f"resumed {restored.step}", flush=True)
    else:
        state = th.fresh_state()
    step = th.step("grpo", 2)
    while int(state.step) < args.steps:
        state, _ = step(state, batch_for(next(it), state.params))
        ckpt.save(state, data_state=it.get_state(), config={"steps": args.steps})
        print(f"step {int(state.step)}", flush=True)
    ckpt.wait()
    ckpt.close()
    _save_tree(args.out, {"params": state.params, "opt_state": state.opt_state})


def bigsave(args) -> None:
    import jax
    import jax.numpy as jnp

    from jaxinterest.train.checkpoint import Checkpointer
    from jaxinterest.train.state import TrainState

    def state(step, n):
        params = {"w": jnp.full((n,), float(step), jnp.float32)}
        return TrainState(params, (), jnp.int32(step), jax.random.key(step), jnp.int32(0))

    ckpt = Checkpointer(args.ckpt, keep_last=3)
    ckpt.save(state(1, 1000), data_state={"at": 1})
    ckpt.wait()
    ckpt.save(state(2, 100_000_000), data_state={"at": 2})  # 400 MB: seconds to write
    print("saving 2", flush=True)
    time.sleep(600)


def dist(args) -> None:
    import jax

    from jaxinterest.train import distributed

    distributed.initialize(f"localhost:{args.port}", args.processes, args.process_id)

    from jax.experimental import multihost_utils

    from jaxinterest import sharding as shd
    from jaxinterest.models.qwen2 import param_axes
    from jaxinterest.train.state import create_state, state_shardings
    from jaxinterest.train.step import make_train_step
    from tests import train_helpers as th

    mesh = shd.make_mesh((1, jax.device_count(), 1))
    sh = state_shardings(th.fresh_state(), th.OPTIMIZER, param_axes(th.CFG), mesh, "fsdp")
    state = create_state(th.params(), th.OPTIMIZER, jax.random.key(7), sh)
    step = make_train_step(
        th.OBJECTIVES["grpo"],
        th.OPTIMIZER,
        micro_batches=2,
        schedule=th.SCHEDULE,
        state_shardings=sh,
        mesh=mesh,
    )
    rows = th.ROWS // args.processes
    mine = slice(args.process_id * rows, (args.process_id + 1) * rows)
    metrics = []
    for seed in (0, 1):
        full = th.grpo_batch(th.params(), seed=seed)
        local = {k: v[mine] for k, v in full.items()}
        state, m = step(state, distributed.shard_batch(local, mesh, "fsdp"))
        metrics.append(jax.device_get(m))
    params = multihost_utils.process_allgather(state.params, tiled=True)
    if distributed.is_primary():
        _save_tree(args.out, {"params": params, "loss": np.array([m["loss"] for m in metrics])})
    print("done", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["loop", "bigsave", "dist"])
    p.add_argument("--ckpt")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--out")
    p.add_argument("--port", type=int)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--process-id", type=int, default=0)
    args = p.parse_args(argv)
    {"loop": loop, "bigsave": bigsave, "dist": dist}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
