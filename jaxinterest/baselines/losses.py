"""The training loss every baseline shares: softmax over in-batch and sampled negatives.

For query i (a user's state before a click) with target article p_i, the candidates are every
scored target of the batch (in-batch negatives, drawn as often as articles are clicked) plus M
articles drawn uniformly from the training-window catalogue (so rarely clicked articles are
negatives too):

    loss_i = -log( exp(s_ii / tau) / sum_{c in C_i} exp(s_ic / tau) ),   s_ic = q_i . v_c

C_i leaves out padded targets and every candidate that IS query i's target article (another
user's click on it, or a random draw of it), except query i's own column. Vectors are unit rows,
so s is a cosine and tau sets the sharpness. float32 throughout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEG = -1e9


def sampled_softmax(q, pos, pos_id, neg, neg_id, mask, temperature: float):
    """q, pos [N, E] unit rows; pos_id int [N]; neg [M, E]; neg_id int [M]; mask bool [N].

    Returns (mean loss over masked-in queries, accuracy: share of them whose target outscores
    every candidate)."""
    n = q.shape[0]
    cand = jnp.concatenate([pos, neg]).astype(jnp.float32)  # [N + M, E]
    cand_id = jnp.concatenate([pos_id, neg_id])
    cand_ok = jnp.concatenate([mask, jnp.ones(neg.shape[0], bool)])
    logits = (q.astype(jnp.float32) @ cand.T) / temperature  # [N, N + M]
    own = jnp.arange(n)[:, None] == jnp.arange(cand.shape[0])[None, :]
    clash = (pos_id[:, None] == cand_id[None, :]) & ~own
    logits = jnp.where(clash | ~cand_ok[None, :], NEG, logits)
    target = jnp.diagonal(logits[:, :n])
    per = jax.nn.logsumexp(logits, axis=-1) - target
    w = mask.astype(jnp.float32)
    denom = jnp.maximum(w.sum(), 1.0)
    best = jnp.max(jnp.where(own, NEG, logits), axis=-1) < target
    return (per * w).sum() / denom, (best * w).sum() / denom
