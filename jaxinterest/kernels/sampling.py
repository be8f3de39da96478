"""Token choice on CPU: the C++ kernel for `sampling.filters.sample_step` without top-k/top-p.

  logits [R, V] float32, uniforms [R] float32 in [0, 1), temperature scalar (> 0 unless greedy)
  -> (tokens [R] int32, logprob [R], logprob_raw [R])

Greedy: the first maximum, logprob 0. Otherwise the inverse-CDF draw of softmax(logits / T) at
(1 - u) of its mass, exactly `filters._draw`'s rule, with u drawn by the caller from JAX's
PRNG. logprob_raw is log softmax(logits) at the token in both cases.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinterest.kernels import build

TARGET = "jaxinterest_sample_rows"


def sample_rows(logits, uniforms, temperature, *, greedy: bool):
    """See the module doc."""
    if logits.ndim != 2 or uniforms.shape != logits.shape[:1]:
        raise ValueError(
            f"logits {logits.shape} must be [R, V] and uniforms [R], got {uniforms.shape}"
        )
    build.require("sampling")
    r = logits.shape[0]
    call = jax.ffi.ffi_call(
        TARGET,
        (
            jax.ShapeDtypeStruct((r,), jnp.int32),
            jax.ShapeDtypeStruct((r,), jnp.float32),
            jax.ShapeDtypeStruct((r,), jnp.float32),
        ),
    )
    return call(
        logits.astype(jnp.float32),
        uniforms.astype(jnp.float32),
        jnp.asarray(temperature, jnp.float32).reshape(()),
        greedy=bool(greedy),
    )
