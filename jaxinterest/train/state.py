"""The train state pytree and its shardings.

`TrainState` holds everything an update changes: params, optimiser state, the step counter,
the root RNG key (each step uses `fold_in(rng, step)`, so resuming at step s draws the same
numbers as an uninterrupted run) and the count of updates skipped as non-finite.

Shardings come from the params' logical axes (`param_axes`) and a rule set of
`jaxinterest.sharding`: the optimiser's per-parameter moments take their parameter's sharding,
scalars (counts, step, key) are replicated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxinterest import sharding as shd


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """params: model pytree; opt_state: optax state; step: int32 [] batches consumed (updates
    attempted, skipped ones included); rng: typed PRNG key []; skipped: int32 [] updates
    skipped because the loss or gradient norm was not finite."""

    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    skipped: jax.Array

    def replace(self, **changes) -> TrainState:
        return dataclasses.replace(self, **changes)


def init_state(params, optimizer: optax.GradientTransformation, rng: jax.Array) -> TrainState:
    """A fresh state at step 0 (pure: jit it with out_shardings to build it sharded)."""
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        step=jnp.zeros((), jnp.int32),
        rng=rng,
        skipped=jnp.zeros((), jnp.int32),
    )


def abstract_state(abstract_params, optimizer: optax.GradientTransformation) -> TrainState:
    """`jax.ShapeDtypeStruct` leaves of the state for these params (nothing allocated)."""
    return jax.eval_shape(lambda p: init_state(p, optimizer, jax.random.key(0)), abstract_params)


def state_shardings(
    state: TrainState,
    optimizer: optax.GradientTransformation,
    axes,
    mesh: Mesh,
    rules: shd.Rules | str,
) -> TrainState:
    """NamedSharding for every leaf of a (possibly abstract) state.

    axes: the params' logical axes (`qwen2.param_axes(cfg)`); rules: a rule set or its name.
    """
    if isinstance(rules, str):
        rules = shd.get_rules(rules)
    shapes = jax.tree.map(lambda x: tuple(x.shape), state.params)
    param_sh = shd.tree_shardings(axes, shapes, mesh, rules)
    replicated = NamedSharding(mesh, PartitionSpec())
    opt_sh = optax.tree_map_params(
        optimizer,
        lambda _, sharding: sharding,
        state.opt_state,
        param_sh,
        transform_non_params=lambda _: replicated,
    )
    return TrainState(
        params=param_sh,
        opt_state=opt_sh,
        step=replicated,
        rng=replicated,
        skipped=replicated,
    )


def create_state(
    params, optimizer: optax.GradientTransformation, rng: jax.Array, shardings=None
) -> TrainState:
    """`init_state`, jitted with out_shardings so that the optimiser moments are born sharded
    (never materialised whole on one device). Without shardings, a plain single-device state."""
    init = jax.jit(lambda p, k: init_state(p, optimizer, k), out_shardings=shardings)
    return init(params, rng)
