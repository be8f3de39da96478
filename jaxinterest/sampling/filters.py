"""One sampling step: temperature, top-k, top-p (nucleus), and the log-probs of the choice.

Order of the filters, as in HF transformers and vLLM: divide by the temperature, keep the top-k
logits, then keep the nucleus of what is left. Everything runs in float32.

Two log-probs come out of each step:
  logprob      under the distribution actually sampled from (after temperature/top-k/top-p);
               0 for greedy decoding, whose distribution is a point mass.
  logprob_raw  under the raw model (temperature 1, nothing filtered): what a policy-gradient
               ratio against `score` needs.

With top_k > 0 the filters work on the `lax.top_k` candidate list (sorted), the draw picks a
position in it and the token id is read back from its indices: no scatter. Top-p over the full
vocabulary does not sort (an XLA:CPU sort of [32, 8192] costs many model steps): the nucleus
is the set of logits >= a threshold, and the threshold is found exactly by a 32-step bisection
over the float32 bit patterns. The two agree except on exact ties at the nucleus boundary,
where the threshold keeps every tied token. With top_k == 0 and top_p == 1 no filtering work
runs at all. `bench/sampling_ops.py` times each choice here against the plain-XLA one
(docs/speed.md).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class SamplingMode:
    """The static part of the sampling options: what changes the compiled program.

    The temperature and top-p values themselves are traced scalars, so changing them does not
    recompile; switching a filter on or off does.
    """

    greedy: bool = False
    top_k: int = 0  # 0: off
    use_top_p: bool = False


def nucleus_mask(sorted_logits: jax.Array, top_p: jax.Array) -> jax.Array:
    """Which entries of a descending-sorted [R, C] logit list the nucleus keeps. [R, C] bool.

    Keeps the shortest prefix whose probability reaches top_p: entry i stays if the mass
    strictly before it is < top_p, so the first (most likely) entry always stays.
    """
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # [R, C] mass of the entries ranked above
    return before < top_p


def _ordered_bits(x: jax.Array) -> jax.Array:
    """uint32 keys with the same order as the float32 values (finite or +-inf)."""
    bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)
    flipped = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: reverse their order
    return jax.lax.bitcast_convert_type(flipped, jnp.uint32) ^ jnp.uint32(0x80000000)


def nucleus_threshold_mask(logits: jax.Array, top_p: jax.Array) -> jax.Array:
    """Nucleus of unsorted [R, V] logits, [R, V] bool: logits >= the largest threshold whose
    upper set still holds probability >= top_p. Equal to `nucleus_mask` on the sorted list up
    to ties at the boundary."""
    probs = jax.nn.softmax(logits, axis=-1)
    keys = _ordered_bits(logits)
    lo = jnp.min(keys, axis=-1)  # the upper set of the minimum is everything: mass 1 >= p
    hi = jnp.max(keys, axis=-1) + 1  # nothing is >= hi: mass 0 < p

    def halve(_, bounds):
        lo, hi = bounds
        mid = lo + (hi - lo) // 2
        mass = jnp.sum(jnp.where(keys >= mid[:, None], probs, 0.0), axis=-1)
        ok = mass >= top_p
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = jax.lax.fori_loop(0, 32, halve, (lo, hi))  # 32 halvings pin down a uint32 exactly
    return keys >= lo[:, None]


_BLOCK = 128  # CDF block width of `_draw`


def _draw(key: jax.Array, logits: jax.Array, u: jax.Array | None = None):
    """One categorical draw per row of [R, C] logits (-inf = excluded) by inverting the CDF.

    Returns (index [R] int32, its log-prob under softmax(logits) [R]). `u`: the rows'
    uniforms [R] in [0, 1) when the caller draws them (per-row streams), else from `key`.
    One uniform per row, not the C Gumbel variates of `jax.random.categorical` (whose random
    bits cost more than the rest of the step's sampling on CPU). The CDF is two-level, block
    sums then one block, because XLA:CPU's cumsum over a whole vocabulary row is slow.
    """
    r, c = logits.shape
    top = jnp.max(logits, axis=-1, keepdims=True)
    weights = jnp.exp(logits - top)  # [R, C] unnormalised probabilities, max entry 1
    nb = -(-c // _BLOCK)
    blocks = jnp.pad(weights, ((0, 0), (0, nb * _BLOCK - c))).reshape(r, nb, _BLOCK)
    sums = jnp.sum(blocks, axis=-1)  # [R, nb]
    cum = jnp.cumsum(sums, axis=-1)
    total = cum[:, -1]
    # u in (0, 1]: the target is > 0, so zero-probability entries are never hit.
    u = jax.random.uniform(key, (r,), jnp.float32) if u is None else u
    target = (1.0 - u) * total
    block = jnp.minimum(jnp.sum(cum < target[:, None], axis=-1), nb - 1)
    inner = jnp.take_along_axis(blocks, block[:, None, None], axis=1)[:, 0]  # [R, _BLOCK]
    inner_cum = jnp.cumsum(inner, axis=-1)
    rest = target - (_take(cum, block) - _take(sums, block))
    # Rounding may put the remainder just outside (0, block sum]: clamp it inside, so the
    # draw always lands on an entry of positive probability.
    rest = jnp.clip(rest, jnp.finfo(jnp.float32).tiny, inner_cum[:, -1])
    offset = jnp.minimum(jnp.sum(inner_cum < rest[:, None], axis=-1), _BLOCK - 1)
    index = (block * _BLOCK + offset).astype(jnp.int32)
    logprob = _take(logits, index) - top[:, 0] - jnp.log(total)
    return index, logprob


def _argmax(x: jax.Array) -> jax.Array:
    """First index of the row maximum, [R] int32: a max and a min reduction, which XLA:CPU
    runs faster than its variadic-reduce argmax."""
    top = jnp.max(x, axis=-1, keepdims=True)
    iota = jnp.arange(x.shape[-1], dtype=jnp.int32)
    return jnp.min(jnp.where(x == top, iota, x.shape[-1] - 1), axis=-1)


def _logsumexp(x: jax.Array) -> jax.Array:
    top = jnp.max(x, axis=-1)
    return top + jnp.log(jnp.sum(jnp.exp(x - top[:, None]), axis=-1))


def _take(x: jax.Array, index: jax.Array) -> jax.Array:
    return jnp.take_along_axis(x, index[:, None], axis=-1)[:, 0]


def sample_step(
    key: jax.Array,
    logits: jax.Array,
    mode: SamplingMode,
    temperature: jax.Array,
    top_p: jax.Array,
    uniforms: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws one token per row. logits: [R, V] float32. `uniforms` ([R] in [0, 1)) replaces
    the draw from `key` when given (`engine.row_uniforms`: per-row random streams).

    Returns (tokens [R] int32, logprob [R], logprob_raw [R]) as described in the module doc.
    """
    logits = logits.astype(jnp.float32)
    norm = _logsumexp(logits)  # raw log-prob = logit - norm
    if mode.greedy:
        tokens = _argmax(logits)
        return tokens, jnp.zeros(tokens.shape, jnp.float32), _take(logits, tokens) - norm
    scaled = logits / temperature
    if mode.top_k > 0:
        cand, ids = jax.lax.top_k(scaled, mode.top_k)  # [R, k], descending
        if mode.use_top_p:
            cand = jnp.where(nucleus_mask(cand, top_p), cand, -jnp.inf)
    else:
        cand, ids = scaled, None
        if mode.use_top_p:
            cand = jnp.where(nucleus_threshold_mask(cand, top_p), cand, -jnp.inf)
    choice, logprob = _draw(key, cand, uniforms)
    tokens = choice if ids is None else _take(ids, choice)
    return tokens, logprob, _take(logits, tokens) - norm
