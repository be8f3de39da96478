"""Decode-size matmuls on CPU: weights packed once into 16-column panels, then the C++ kernel.

  pack_panels(w [K, N]) -> panels [ceil(N / 16), K, 16]   (pure jnp; zero columns pad N)
  matmul(a [M, K], panels, n) -> a @ w, [M, n] float32

Packing is a transpose of the weight, done once per generate call outside the decode loop
(`sampling.step.prepare`); the kernel then streams each panel once per call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.kernels import build

TARGET = "jaxinterest_matmul"
PANEL = 16


def pack_panels(w: jax.Array) -> jax.Array:
    """[K, N] -> [P, K, 16] float32 with column j of w at panels[j // 16, :, j % 16]."""
    k, n = w.shape
    p = -(-n // PANEL)
    w = jnp.pad(w.astype(jnp.float32), ((0, 0), (0, p * PANEL - n)))
    return w.reshape(k, p, PANEL).transpose(1, 0, 2)


def matmul(a: jax.Array, panels: jax.Array, n: int) -> jax.Array:
    """a @ w for `panels = pack_panels(w)` and w's column count n. float32 [M, n]."""
    if a.ndim != 2 or panels.ndim != 3 or panels.shape[1:] != (a.shape[1], PANEL):
        raise ValueError(f"a {a.shape} and panels {panels.shape} do not fit [M, K] x [P, K, 16]")
    if not (panels.shape[0] - 1) * PANEL < n <= panels.shape[0] * PANEL:
        raise ValueError(f"{panels.shape[0]} panels cannot hold {n} columns")
    build.require("matmul")
    out = jax.ffi.ffi_call(
        TARGET, jax.ShapeDtypeStruct((a.shape[0], panels.shape[0] * PANEL), jnp.float32)
    )(a.astype(jnp.float32), panels)
    return out if out.shape[1] == n else out[:, :n]
