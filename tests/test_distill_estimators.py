"""The sampled estimator's expectation equals the exact estimator's value and gradient on a toy
model, within a Monte-Carlo bound.

Toy: a 6-token vocabulary, completions of exactly 3 tokens (no stop token), so all 216
completions can be enumerated. The exact side weighs every completion by its probability under
the student (computed here from the full logits, in float64); the sampled side draws M
completions with the real sampler and averages the importance-sampled loss and its per-sample
gradients. Gradients are compared along fixed directions (the exact gradient itself and random
ones) with a bound of 5 standard errors of the per-sample projections, and the test checks that
the bound is tight enough to see a wrong estimator (the same loss with the return-to-go
advantage, i.e. discount 1, lands outside it).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxinterest.models.qwen2 import forward
from jaxinterest.sampling import SamplingParams, generate, pack
from jaxinterest.train import distill
from jaxinterest.train.kl_chunks import chunked_reverse_kl
from jaxinterest.train.teacher import LocalTeacher
from tests.qwen2_helpers import random_params, tiny_config

V, L, M = 6, 3, 3000
CFG = tiny_config(vocab_size=V, hidden_size=16, intermediate_size=24, num_layers=1,
                  num_heads=2, num_kv_heads=1, head_dim=8)  # fmt: skip
PROMPT = [1, 4]


def np_log_softmax(x):
    x = np.asarray(x, np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def test_sampled_estimator_matches_exact_in_expectation():
    student, teacher = random_params(CFG, 3, 0.6), random_params(CFG, 4, 0.6)
    comps = [list(c) for c in itertools.product(range(V), repeat=L)]
    enum = pack([PROMPT] * len(comps), comps, 0, len(PROMPT), L)
    t_cols = slice(len(PROMPT) - 1, len(PROMPT) + L - 1)  # hidden positions predicting y_1..y_L

    # ---- exact side, by enumeration -----------------------------------------------------
    fwd = jax.jit(lambda p: forward(p, enum["tokens"], CFG, attention_mask=enum["attention_mask"]))
    ls = np_log_softmax(np.asarray(fwd(student))[:, t_cols])  # [216, L, V]
    lt = np_log_softmax(np.asarray(fwd(teacher))[:, t_cols])
    ys = np.asarray(comps)
    log_prob = np.take_along_axis(ls, ys[..., None], -1)[..., 0].sum(1)  # log pi_s(y)
    weight = np.exp(log_prob)
    assert abs(weight.sum() - 1) < 1e-9
    kl_t = (np.exp(ls) * (ls - lt)).sum(-1)  # [216, L] exact KL at each prefix
    exact_value = float((weight * kl_t.sum(1)).sum())

    w = jnp.asarray(weight * len(comps) * L, jnp.float32)  # undo the token mean, weigh by pi_s(y)

    def weighted_exact(p):
        kl = chunked_reverse_kl(p, teacher, enum, CFG, CFG, width=L)
        return jnp.sum(w[:, None] * kl) / (len(comps) * L)

    g_exact = jax.jit(jax.grad(weighted_exact))(student)

    # ---- sampled side: M draws from the real sampler ------------------------------------
    gen = generate(student, CFG, [PROMPT], SamplingParams(max_new_tokens=L, num_samples=M),
                   key=jax.random.key(11), backend="xla")  # fmt: skip
    assert (gen.lengths == L).all()
    b = gen.packed([PROMPT], 0)
    b["old_logp"] = np.asarray(distill.student_logprob_fn(CFG, width=L)(student, b))
    b["teacher_logp"] = LocalTeacher(CFG, teacher).token_logprobs(b, L)
    gap = (b["old_logp"] - b["teacher_logp"])[:, -L:]  # [M, L] log pi_s - log pi_t
    per_seq = gap.sum(1)
    stderr = per_seq.std(ddof=1) / np.sqrt(M)
    assert abs(per_seq.mean() - exact_value) < 5 * stderr, (per_seq.mean(), exact_value, stderr)

    sampled_obj = distill.distill_objective(CFG, estimator="sampled", width=L)

    def per_sample_grads(batch):
        rows = jax.tree.map(lambda x: jnp.asarray(x)[:, None], batch)  # [M, 1, ...]
        g = jax.vmap(lambda r: jax.grad(lambda p: sampled_obj(p, r, None, None)[0])(student))
        return g(rows)  # each row's gradient of its token mean over its L tokens

    rng = np.random.default_rng(0)
    flat_exact, unravel = ravel_pytree(g_exact)
    dirs = [np.asarray(flat_exact)] + [rng.normal(size=flat_exact.shape) for _ in range(4)]
    dirs = np.stack([d / np.linalg.norm(d) for d in dirs])  # [5, P]

    def projections(batch):
        g = jax.jit(per_sample_grads)(batch)
        flat = jax.vmap(lambda t: ravel_pytree(t)[0])(g)  # [M, P]
        return np.asarray(flat) @ dirs.T * L  # per-sequence sums, as g_exact is

    proj = projections(b)
    want = dirs @ np.asarray(flat_exact)
    se = proj.std(0, ddof=1) / np.sqrt(M)
    z = (proj.mean(0) - want) / se
    assert np.all(np.abs(z) < 5), z
    # the bound can see a wrong estimator: the exact gradient's own direction is far from 0 ...
    assert want[0] > 10 * se[0]
    # ... and discount 1 (advantage = return-to-go of the log gaps) is rejected
    rtg = b.copy()
    togo = np.cumsum(gap[:, ::-1], 1)[:, ::-1]
    rtg["teacher_logp"] = b["teacher_logp"].copy()
    rtg["teacher_logp"][:, -L:] = b["old_logp"][:, -L:] - togo
    z_rtg = (projections(rtg).mean(0) - want) / se
    assert np.abs(z_rtg).max() > 5, z_rtg
