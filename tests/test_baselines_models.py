"""The five baselines' building blocks against formulas written here: shapes, causality,
HSTU's pointwise attention and layer, NRHUB's prefix pooling, the sampled-softmax loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterest.baselines import hstu, nrhub
from jaxinterest.baselines.data import BOS, CLICK
from jaxinterest.baselines.losses import sampled_softmax
from jaxinterest.baselines.registry import NAMES, make_config, module
from jaxinterest.baselines.train import Batch

E = 16  # text-embedding width of these toy tests


def toy_batch(rng, b=3, t=9, lengths=(9, 5, 1), domains=(0, 1, 2)):
    emb = rng.normal(size=(b, t, E)).astype(np.float32)
    dom = rng.choice(domains, size=(b, t)).astype(np.int32)
    dom[:, 0] = BOS
    time = np.sort(rng.integers(0, 30 * 86400, size=(b, t)), axis=1).astype(np.int32)
    length = np.array(lengths, np.int32)
    for i, n in enumerate(length):
        dom[i, n:] = BOS
        emb[i, n:] = 0
        emb[i, 0] = 0
    return jnp.asarray(emb), Batch(jnp.zeros((b, t), jnp.int32), jnp.asarray(dom),
                                   jnp.asarray(time), jnp.asarray(length))  # fmt: skip


def small_config(name):
    return make_config(name, d_model=8, item_rank=4, max_len=12)


def jit_encode(model):
    return jax.jit(model.encode, static_argnums=3)


@pytest.mark.parametrize("name", NAMES)
def test_shapes(name):
    cfg = small_config(name)
    model = module(name)
    params = model.init(cfg, jax.random.key(0), E)
    emb, batch = toy_batch(np.random.default_rng(0))
    h = jax.eval_shape(lambda p: model.encode(p, emb, batch, cfg), params)
    width = E if name == "pinsage" else cfg.d_model
    assert h.shape == (3, 9, width)
    q = jax.eval_shape(lambda p: model.head(p, model.encode(p, emb, batch, cfg)), params)
    assert q.shape == (3, 9, E) and q.dtype == jnp.float32


@pytest.mark.parametrize("name", NAMES)
def test_future_slots_do_not_change_earlier_outputs(name):
    """Causality: changing slot 5's item (and domain) leaves slots 0-4 bit-identical."""
    cfg = small_config(name)
    model = module(name)
    params = model.init(cfg, jax.random.key(1), E)
    rng = np.random.default_rng(1)
    emb, batch = toy_batch(rng)
    enc = jit_encode(model)
    out = np.asarray(enc(params, emb, batch, cfg))
    emb2 = emb.at[0, 5].set(jnp.asarray(rng.normal(size=E), jnp.float32))
    batch2 = batch._replace(dom=batch.dom.at[0, 5].set(CLICK if batch.dom[0, 5] != CLICK else 0))
    out2 = np.asarray(enc(params, emb2, batch2, cfg))
    np.testing.assert_array_equal(out2[0, :5], out[0, :5])
    assert np.abs(out2[0, 5:] - out[0, 5:]).max() > 1e-4  # the change is seen from slot 5 on
    np.testing.assert_array_equal(out2[1:], out[1:])  # and by nobody else


@pytest.mark.parametrize("name", NAMES)
def test_outputs_do_not_depend_on_padding_width(name):
    """Training and evaluation batches have different widths; real slots must not notice."""
    cfg = small_config(name)
    model = module(name)
    params = model.init(cfg, jax.random.key(2), E)
    emb, batch = toy_batch(np.random.default_rng(2))
    enc = jit_encode(model)
    out = enc(params, emb, batch, cfg)
    pad = 3
    emb_p = jnp.pad(emb, ((0, 0), (0, pad), (0, 0)))
    batch_p = Batch(*(jnp.pad(a, ((0, 0), (0, pad)), constant_values=BOS if i == 1 else 0)
                      for i, a in enumerate(batch[:3])), batch.length)  # fmt: skip
    out_p = enc(params, emb_p, batch_p, cfg)
    for b, n in enumerate(np.asarray(batch.length)):
        np.testing.assert_allclose(out_p[b, :n], out[b, :n], rtol=1e-5, atol=1e-6)


def _silu(x):
    return x / (1 + np.exp(-x))


def _bucket(dt, n_buckets):
    return int(np.clip(np.floor(np.log(max(abs(dt), 1)) / 0.301), 0, n_buckets))


def _ln(x, p):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * np.asarray(p["scale"]) + np.asarray(p["bias"])


def _hstu_attention_loops(q, k, v, time, length, rab_pos, rab_time, n_slots, n_buckets):
    """A[b,n,i,j] = SiLU(q_i.k_j + rab_pos[i-j+n_slots-1] + rab_time[bucket(t_i-t_j)]) / n_slots
    for j <= i < ..., j < length; out_i = sum_j A v_j. Plain loops."""
    b_, t_, n_, _ = q.shape
    out = np.zeros(v.shape)
    for b in range(b_):
        for n in range(n_):
            for i in range(t_):
                for j in range(min(i + 1, int(length[b]))):
                    s = float(q[b, i, n] @ k[b, j, n])
                    s += rab_pos[i - j + n_slots - 1]
                    s += rab_time[_bucket(int(time[b, i]) - int(time[b, j]), n_buckets)]
                    out[b, i, n] += _silu(s) / n_slots * v[b, j, n]
    return out


def test_hstu_attention_against_loops():
    rng = np.random.default_rng(3)
    b, t, n, h, n_slots, nb = 2, 7, 2, 4, 12, 20
    q, k, v = (rng.normal(size=(b, t, n, h)).astype(np.float32) for _ in range(3))
    time = np.sort(rng.integers(0, 10**6, size=(b, t)), axis=1).astype(np.int32)
    length = np.array([7, 4])
    p = {"rab_pos": rng.normal(size=2 * n_slots - 1).astype(np.float32),
         "rab_time": rng.normal(size=nb + 1).astype(np.float32)}  # fmt: skip
    mask = np.tril(np.ones((t, t), bool))[None] & (
        np.arange(t)[None, None, :] < length[:, None, None]
    )
    bias = hstu.relative_bias(jax.tree.map(jnp.asarray, p), jnp.asarray(time), n_slots, nb)
    got = hstu.pointwise_attention(q, k, v, bias, jnp.asarray(mask), n_slots)
    want = _hstu_attention_loops(q, k, v, time, length, p["rab_pos"], p["rab_time"], n_slots, nb)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_hstu_layer_against_numpy():
    """One HSTU layer: U,V,Q,K = split(SiLU(LN(X) W1 + b1)); Y = LN(A V) * U; X + Y W2 + b2."""
    cfg = hstu.HSTUConfig(d_model=8, n_heads=2, max_len=10, n_buckets=16)
    params = hstu.init(cfg, jax.random.key(4), E)
    p = params["blocks"][0]
    rng = np.random.default_rng(4)
    p = {**p, "rab_pos": jnp.asarray(rng.normal(size=p["rab_pos"].shape), jnp.float32),
         "rab_time": jnp.asarray(rng.normal(size=p["rab_time"].shape), jnp.float32)}  # fmt: skip
    b, t, d, n = 2, 6, 8, 2
    x = rng.normal(size=(b, t, d)).astype(np.float32)
    time = np.sort(rng.integers(0, 10**6, size=(b, t)), axis=1).astype(np.int32)
    length = np.array([6, 3])
    mask = np.tril(np.ones((t, t), bool))[None] & (
        np.arange(t)[None, None, :] < length[:, None, None]
    )
    got = jax.jit(hstu.layer, static_argnums=4)(p, x, time, mask, cfg)
    w1, b1 = np.asarray(p["uvqk"]["w"]), np.asarray(p["uvqk"]["b"])
    uvqk = _silu(_ln(x, p["ln_in"]) @ w1 + b1)
    u, v, q, k = (a.reshape(b, t, n, d // n) for a in np.split(uvqk, 4, axis=-1))
    av = _hstu_attention_loops(q, k, v, time, length, np.asarray(p["rab_pos"]),
                               np.asarray(p["rab_time"]), 11, 16).reshape(b, t, d)  # fmt: skip
    y = _ln(av, p["ln_attn"]) * u.reshape(b, t, d)
    want = x + y @ np.asarray(p["o"]["w"]) + np.asarray(p["o"]["b"])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_nrhub_prefix_pool_against_loops():
    rng = np.random.default_rng(5)
    b, t, d = 3, 12, 4
    logits = rng.normal(size=(b, t)).astype(np.float32) * 4
    x = rng.normal(size=(b, t, d)).astype(np.float32)
    mask = rng.random((b, t)) < 0.5
    got, has = jax.jit(nrhub.causal_pool)(logits, x, mask)
    a = nrhub.CAP * np.tanh(logits.astype(np.float64) / nrhub.CAP)
    for i in range(b):
        for s in range(t):
            js = [j for j in range(s + 1) if mask[i, j]]
            assert bool(has[i, s]) == bool(js)
            if js:
                w = np.exp(a[i, js] - a[i, js].max())
                want = (w[:, None] * x[i, js]).sum(0) / w.sum()
                np.testing.assert_allclose(np.asarray(got[i, s]), want, rtol=1e-5, atol=1e-6)


def test_sampled_softmax_against_formula():
    rng = np.random.default_rng(6)
    n, m, e, tau = 6, 4, 5, 0.1

    def unit(a):
        return (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float32)

    q, pos, neg = unit(rng.normal(size=(n, e))), unit(rng.normal(size=(n, e))), unit(
        rng.normal(size=(m, e)))  # fmt: skip
    pos_id = np.array([3, 7, 3, 9, 11, 12])  # query 0 and 2 share a target article
    neg_id = np.array([7, 20, 21, 3])  # negatives that hit targets 7 and 3
    mask = np.array([1, 1, 1, 1, 0, 1], bool)
    loss, acc = jax.jit(sampled_softmax, static_argnums=6)(q, pos, pos_id, neg, neg_id, mask, tau)
    cand = np.concatenate([pos, neg])
    cand_id = np.concatenate([pos_id, neg_id])
    cand_ok = np.concatenate([mask, np.ones(m, bool)])
    losses, wins = [], []
    for i in np.flatnonzero(mask):
        keep = [c for c in range(n + m) if c == i or (cand_ok[c] and cand_id[c] != pos_id[i])]
        s = cand[keep] @ q[i] / tau
        own = s[keep.index(i)]
        losses.append(np.log(np.exp(s).sum()) - own)
        wins.append(all(s[j] < own for j in range(len(keep)) if keep[j] != i))
    np.testing.assert_allclose(float(loss), np.mean(losses), rtol=1e-5)
    np.testing.assert_allclose(float(acc), np.mean(wins))
