"""Device meshes and logical-axis sharding rules.

Every parameter axis carries a logical name (see `models/qwen2/model.py:param_axes`); a rule
set maps logical names to mesh axes. One mesh shape, (data, fsdp, tensor), serves every
strategy: a strategy only changes the rules.

  dp        parameters replicated, batch split over every device.
  fsdp      parameters split along their model-width axis over `fsdp`; batch over data x fsdp.
  fsdp_tp   as fsdp, plus heads / MLP width / vocabulary split over `tensor` (Megatron style).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

Rules = dict[str, str | tuple[str, ...] | None]

RULES: dict[str, Rules] = {
    "dp": {"batch": ("data", "fsdp", "tensor")},
    "fsdp": {"batch": ("data", "fsdp"), "embed": "fsdp"},
    "fsdp_tp": {
        "batch": ("data", "fsdp"),
        "embed": "fsdp",
        "heads": "tensor",
        "kv_heads": "tensor",
        "mlp": "tensor",
        "vocab": "tensor",
    },
}


def make_mesh(shape: Sequence[int] | None = None, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh. Default: every device on `data`.

    Axes are Auto (not jax 0.10's Explicit default) so that `with_sharding_constraint` and
    GSPMD propagation work as in pjit.
    """
    devices = list(devices if devices is not None else jax.devices())
    if shape is None:
        shape = (len(devices), 1, 1)
    if len(shape) != 3 or math.prod(shape) != len(devices):
        raise ValueError(
            f"mesh shape {tuple(shape)} does not cover {len(devices)} devices with axes {MESH_AXES}"
        )
    grid = np.asarray(devices, dtype=object).reshape(tuple(shape))
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto,) * 3)


def get_rules(name: str) -> Rules:
    try:
        return RULES[name]
    except KeyError:
        raise KeyError(f"unknown sharding rules {name!r}; known: {', '.join(RULES)}") from None


def logical_to_physical(
    axes: Sequence[str | None],
    rules: Rules,
    shape: Sequence[int] | None = None,
    mesh: Mesh | None = None,
) -> PartitionSpec:
    """PartitionSpec for an array whose axes have these logical names.

    Refuses a rule set that would put one mesh axis on two array axes. When `shape` and
    `mesh` are given, a mesh axis that does not divide its array axis is dropped for that
    array (it stays replicated there): tiny models have a single kv head, for instance.
    """
    spec, used = [], set()
    for i, name in enumerate(axes):
        target = rules.get(name) if name is not None else None
        mesh_axes = (target,) if isinstance(target, str) else tuple(target or ())
        if shape is not None and mesh is not None:
            kept, size = [], 1
            for m in mesh_axes:
                if shape[i] % (size * mesh.shape[m]) == 0:
                    kept.append(m)
                    size *= mesh.shape[m]
            mesh_axes = tuple(kept)
        clash = used.intersection(mesh_axes)
        if clash:
            raise ValueError(
                f"logical axes {tuple(axes)} map mesh axis {sorted(clash)} twice under {rules}"
            )
        used.update(mesh_axes)
        spec.append(None if not mesh_axes else mesh_axes[0] if len(mesh_axes) == 1 else mesh_axes)
    return PartitionSpec(*spec)


def _is_axes(x) -> bool:
    return isinstance(x, tuple) and all(isinstance(a, str | None) for a in x)


def tree_shardings(axes_tree, shapes_tree, mesh: Mesh, rules: Rules):
    """NamedSharding for every leaf of a params tree (given its logical axes and shapes)."""
    return jax.tree.map(
        lambda axes, shape: NamedSharding(mesh, logical_to_physical(axes, rules, shape, mesh)),
        axes_tree,
        shapes_tree,
        is_leaf=_is_axes,
    )


def batch_sharding(mesh: Mesh, rules: Rules, ndim: int = 2, batch_size: int | None = None):
    """Sharding for a [B, ...] activation or input: batch split by the `batch` rule."""
    shape = None if batch_size is None else (batch_size,) + (1,) * (ndim - 1)
    axes = ("batch",) + (None,) * (ndim - 1)
    return NamedSharding(mesh, logical_to_physical(axes, rules, shape, mesh if shape else None))


def shard_params(params, axes_tree, mesh: Mesh, rules: Rules):
    """Places an existing params tree on the mesh according to the rules."""
    shapes = jax.tree.map(lambda x: tuple(x.shape), params)
    shardings = tree_shardings(axes_tree, shapes, mesh, rules)
    return jax.device_put(params, shardings)
