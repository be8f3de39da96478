"""Save and restore a baseline's parameters with Orbax, its config JSON beside them.

Layout of a model directory: `config.json` (model + training config and their fingerprint),
`params/` (an Orbax StandardCheckpointer directory) and, once evaluated, `report.json`.
Restoring needs the parameter structure, which `model.init` gives without training.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np


def save_params(path: str | Path, params) -> Path:
    """Write params (a pytree of arrays) to directory `path` (replaced if it exists)."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path, jax.tree.map(np.asarray, params), force=True)
    ckpt.wait_until_finished()
    return path


def load_params(path: str | Path, like):
    """Restore params saved by `save_params`; `like` is a pytree of the same structure."""
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no checkpoint (run the model's training first)")
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), like)
    return ocp.StandardCheckpointer().restore(path, target)


def write_json(path: str | Path, obj) -> None:
    """JSON written to a temporary file, then renamed: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".partial")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    tmp.rename(path)


def read_json(path: str | Path):
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None
