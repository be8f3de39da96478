"""One jitted update step `(state, batch[, frozen]) -> (state, metrics)`, for any objective.

  objective(params, batch, rng, frozen) -> (loss, aux): loss a float32 scalar to minimise,
  aux a dict of float32 scalars; aux["weight"], if present, weighs the micro-batch (e.g. its
  target-token count) and must not depend on params. aux["rows"], if present, is a dict of
  per-row arrays [b, ...] of the micro-batch (e.g. GRPO's log-probs, which the first inner
  epoch's forward computes anyway and later epochs reuse as pi_old): never differentiated,
  gathered back into the batch's row order, and returned whole as metrics["rows"].

The step splits the batch into `micro_batches` interleaved slices (rows i, i + M, i + 2M, ...,
so each device keeps its share of every micro-batch under a batch-sharded layout), accumulates
float32 gradients with `lax.scan` (memory of one micro-batch), and applies the optimiser once:

  loss = sum_i w_i loss_i / sum_i w_i,   grad = sum_i w_i grad_i / sum_i w_i

which equals the full-batch loss and gradient for means over rows (Dr.GRPO, with equal
micro-batch sizes) and for token means (SFT, weighted by token counts).

Non-finite guard: if the loss or the global gradient norm is NaN/inf the update is dropped
(params and optimiser state keep their values bit for bit), `step` still advances (the batch
was consumed), and `skipped` counts it. The state argument is donated.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxinterest.train.state import TrainState

Objective = Callable[..., tuple[jax.Array, dict]]


def split_micro_batches(batch, micro_batches: int):
    """[B, ...] leaves -> [M, B // M, ...]; micro-batch i holds rows i, i + M, i + 2M, ..."""

    def split(x):
        b = x.shape[0]
        if b % micro_batches:
            raise ValueError(
                f"batch of {b} rows does not split into {micro_batches} equal micro-batches"
            )
        return jnp.swapaxes(x.reshape(b // micro_batches, micro_batches, *x.shape[1:]), 0, 1)

    return jax.tree.map(split, batch)


def merge_micro_batches(x: jax.Array) -> jax.Array:
    """[M, B // M, ...] -> [B, ...]: the inverse of `split_micro_batches` for one leaf."""
    return jnp.swapaxes(x, 0, 1).reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _is_extreme(name: str) -> bool:
    return name.endswith(("_min", "_max"))


def accumulate_gradients(objective: Objective, params, batch, rng, frozen, micro_batches: int):
    """(loss, grads float32, aux, total weight or None) over micro-batches, weighted as in the
    module docstring (weight 1 each, and None returned, when the objective gives none). aux
    entries named *_min / *_max take the min / max over micro-batches, the others the weighted
    mean of the micro-batch values: exact for means over rows, an approximation for per-token
    shares (e.g. GRPO's clip_frac) when micro-batches hold different token counts. aux["rows"]
    (per-row outputs, see the module docstring) comes back in the batch's row order.
    rng: the step's key; micro-batch i gets fold_in(rng, i)."""
    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def one(mb, i):
        (loss, aux), grads = grad_fn(params, mb, jax.random.fold_in(rng, i), frozen)
        aux = dict(aux)
        rows = jax.lax.stop_gradient(aux.pop("rows", {}))
        aux = {k: jnp.asarray(v, jnp.float32) for k, v in aux.items()}
        w = jax.lax.stop_gradient(aux.pop("weight", jnp.float32(1.0)))
        grads = jax.tree.map(lambda g: g.astype(jnp.float32) * w, grads)
        sums = {k: v * w for k, v in aux.items() if not _is_extreme(k)}
        extremes = {k: v for k, v in aux.items() if _is_extreme(k)}
        return (loss.astype(jnp.float32) * w, grads, sums, w), extremes, rows

    mbs = batch if micro_batches == 1 else split_micro_batches(batch, micro_batches)
    first = batch if micro_batches == 1 else jax.tree.map(lambda x: x[0], mbs)
    weighted = "weight" in jax.eval_shape(objective, params, first, rng, frozen)[1]
    if micro_batches == 1:
        (loss, grads, aux, w), extremes, rows = one(batch, 0)
    else:
        shapes = jax.eval_shape(one, first, 0)
        init = (
            jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes[0]),
            {
                k: jnp.full(s.shape, jnp.inf if k.endswith("_min") else -jnp.inf, s.dtype)
                for k, s in shapes[1].items()
            },
        )

        def body(acc, xs):
            sums, extremes, rows = one(*xs)
            reduce = {k: jnp.minimum if k.endswith("_min") else jnp.maximum for k in extremes}
            extremes = {k: reduce[k](acc[1][k], v) for k, v in extremes.items()}
            return (jax.tree.map(jnp.add, acc[0], sums), extremes), rows

        ((loss, grads, aux, w), extremes), rows = jax.lax.scan(
            body, init, (mbs, jnp.arange(micro_batches))
        )
        rows = jax.tree.map(merge_micro_batches, rows)
    # A batch without any weight (no target tokens) gives zero loss and zero gradient.
    inv = jnp.where(w > 0, 1.0 / jnp.where(w > 0, w, 1.0), 0.0)
    scale = lambda x: x * inv  # noqa: E731
    aux = {k: scale(v) for k, v in aux.items()} | extremes
    if rows:
        aux["rows"] = rows
    return scale(loss), jax.tree.map(scale, grads), aux, (w if weighted else None)


def train_step_fn(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    *,
    micro_batches: int = 1,
    schedule: optax.Schedule | None = None,
):
    """The pure (unjitted) step: (state, batch, frozen=None) -> (state, metrics).

    metrics (float32/int32 scalars, left on device): loss, grad_norm (before clipping),
    nonfinite (1 if this update was skipped), skipped (running total), weight (sum of
    micro-batch weights, when the objective gives them), lr (if `schedule` is given; the rate
    this update used), and the objective's aux (combined over micro-batches as in
    `accumulate_gradients`; its per-row outputs, if any, under "rows").
    """
    if micro_batches < 1:
        raise ValueError(f"micro_batches must be >= 1, got {micro_batches}")

    def step(state: TrainState, batch, frozen=None):
        rng = jax.random.fold_in(state.rng, state.step)
        loss, grads, aux, weight = accumulate_gradients(
            objective, state.params, batch, rng, frozen, micro_batches
        )
        grad_norm = optax.tree.norm(grads)
        ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        skipped = state.skipped + (~ok).astype(jnp.int32)
        metrics = {
            "loss": loss,
            "grad_norm": grad_norm,
            "nonfinite": (~ok).astype(jnp.int32),
            "skipped": skipped,
            **aux,
        }
        if weight is not None:
            metrics["weight"] = weight
        if schedule is not None:
            # Applied updates so far = optax's own count, which the schedule reads.
            metrics["lr"] = jnp.asarray(schedule(state.step - state.skipped), jnp.float32)
        new_state = state.replace(
            params=jax.tree.map(keep, params, state.params),
            opt_state=jax.tree.map(keep, opt_state, state.opt_state),
            step=state.step + 1,
            skipped=skipped,
        )
        return new_state, metrics

    return step


def make_train_step(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    *,
    micro_batches: int = 1,
    schedule: optax.Schedule | None = None,
    state_shardings: TrainState | None = None,
    mesh: Mesh | None = None,
):
    """`train_step_fn` jitted with the state donated.

    With `state_shardings` (from `train.state.state_shardings`) and `mesh`, the new state keeps
    that layout and the metrics come back replicated; the batch keeps whatever sharding its
    arrays carry (place them with `train.distributed.shard_batch`).
    """
    step = train_step_fn(objective, optimizer, micro_batches=micro_batches, schedule=schedule)
    out_shardings = None
    if state_shardings is not None:
        if mesh is None:
            raise ValueError("state_shardings needs the mesh they refer to")
        out_shardings = (state_shardings, NamedSharding(mesh, PartitionSpec()))
    return jax.jit(step, donate_argnums=0, out_shardings=out_shardings)
