"""Next-click training for every baseline: one jitted step, early stopping on validation users.

A step samples `batch_users` training-split users with at least one click, up to
`targets_per_user` of their clicks (slot p of the stream), and scores the model's output at slot
p - 1 (everything the user did before that click) against the click's article with
`losses.sampled_softmax`. Validation users (users.parquet split == "valid") never train; their
loss on fixed batches is measured every `eval_every` steps, the best parameters are kept and
training stops after `patience` evaluations without improvement. Batches come from
numpy.random.default_rng([seed, step]) and the init key from the seed, so a run is repeatable.
"""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterest.baselines import layers as L
from jaxinterest.baselines.config import TrainConfig
from jaxinterest.baselines.data import Streams
from jaxinterest.baselines.losses import sampled_softmax


class Batch(NamedTuple):
    """Model input: B users' streams. text/dom/time int32 [B, T], length int32 [B]."""

    text: jax.Array
    dom: jax.Array
    time: jax.Array
    length: jax.Array


class Targets(NamedTuple):
    """pos int32 [B, P] stream slot of each scored click (>= 1), item int32 [B, P] its news row,
    mask bool [B, P], neg int32 [M] news rows of the random negatives."""

    pos: jax.Array
    item: jax.Array
    mask: jax.Array
    neg: jax.Array


def as_batch(s: Streams) -> Batch:
    return Batch(s.text, s.dom, s.time, s.length)


def sample_targets(s: Streams, n_targets: int, catalogue, n_neg: int, rng) -> Targets:
    """Up to n_targets click slots per user, uniformly without replacement, + n_neg negatives."""
    is_click = (s.item >= 0) & (np.arange(s.item.shape[1])[None, :] >= 1)
    keys = np.where(is_click, rng.random(s.item.shape), np.inf)
    pos = np.argsort(keys, axis=1, kind="stable")[:, :n_targets]
    mask = np.take_along_axis(is_click, pos, axis=1)
    pos = np.where(mask, pos, 1).astype(np.int32)
    item = np.where(mask, np.take_along_axis(s.item, pos, axis=1), 0).astype(np.int32)
    neg = catalogue[rng.integers(len(catalogue), size=n_neg)].astype(np.int32)
    return Targets(pos, item, mask, neg)


def loss_fn(params, model, cfg, tcfg: TrainConfig, batch: Batch, tgt: Targets, vecs, item_text):
    """vecs float32 [N_text, E] (TextTable.vectors); item_text int32 [N_news] title rows."""
    emb = vecs[batch.text]  # [B, T, E]
    h = model.encode(params, emb, batch, cfg)  # [B, T, D]
    h = jnp.take_along_axis(h, (tgt.pos - 1)[..., None], axis=1)  # [B, P, D]: the scored slots
    q = L.normalize(model.head(params, h.reshape(-1, h.shape[-1])))  # [B * P, E]
    pos = L.item_vectors(params["item"], vecs[item_text[tgt.item.reshape(-1)]])
    neg = L.item_vectors(params["item"], vecs[item_text[tgt.neg]])
    return sampled_softmax(
        q, pos, tgt.item.reshape(-1), neg, tgt.neg, tgt.mask.reshape(-1), tcfg.temperature
    )


def make_optimizer(tcfg: TrainConfig):
    sched = optax.linear_schedule(0.0, tcfg.lr, max(tcfg.warmup_steps, 1))
    return optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=tcfg.weight_decay)
    )


def _steps(model, cfg, tcfg: TrainConfig):
    opt = make_optimizer(tcfg)
    f = functools.partial(loss_fn, model=model, cfg=cfg, tcfg=tcfg)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, batch, tgt, vecs, item_text):
        (loss, acc), grads = jax.value_and_grad(
            lambda p: f(p, batch=batch, tgt=tgt, vecs=vecs, item_text=item_text), has_aux=True
        )(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, acc

    @jax.jit
    def eval_step(params, batch, tgt, vecs, item_text):
        return f(params, batch=batch, tgt=tgt, vecs=vecs, item_text=item_text)

    return opt, train_step, eval_step


def fit(
    model,
    cfg,
    tcfg: TrainConfig,
    streams: Streams,
    valid,
    catalogue,
    vecs,
    item_text,
    *,
    progress: bool = False,
):
    """Train one model. valid: bool [U] validation users. Returns (best params, log dict)."""
    from tqdm import tqdm

    t0, c0 = time.perf_counter(), time.process_time()
    has_click = ((streams.item >= 0).sum(1) > 0) & (streams.length > 1)
    train_users = np.flatnonzero(~valid & has_click)
    valid_users = np.flatnonzero(valid & has_click)
    if len(train_users) == 0 or len(valid_users) == 0:
        raise ValueError(
            f"need training and validation users with clicks, got {len(train_users)} and "
            f"{len(valid_users)} (users.parquet split)"
        )
    vecs, item_text = jnp.asarray(vecs), jnp.asarray(item_text)
    params = model.init(cfg, jax.random.key(tcfg.seed), vecs.shape[1])
    opt, train_step, eval_step = _steps(model, cfg, tcfg)
    opt_state = opt.init(params)
    rng = np.random.default_rng([tcfg.seed, 1])
    valid_batches = []
    for s in range(0, len(valid_users), tcfg.valid_batch_users):
        sub = streams.take(valid_users[s : s + tcfg.valid_batch_users])
        tgt = sample_targets(sub, tcfg.targets_per_user, catalogue, tcfg.n_random_negatives, rng)
        valid_batches.append((as_batch(sub), tgt))

    def valid_loss(p):
        parts = [eval_step(p, b, t, vecs, item_text) for b, t in valid_batches]
        w = np.array([float(t.mask.sum()) for _, t in valid_batches])
        return float(np.dot([float(x[0]) for x in parts], w) / w.sum())

    best, best_loss, bad, losses = None, np.inf, 0, []
    history = [{"step": 0, "train_loss": None, "valid_loss": valid_loss(params)}]
    bar = tqdm(range(1, tcfg.max_steps + 1), desc=f"train {cfg.name}", disable=not progress)
    step = 0
    for step in bar:
        rng = np.random.default_rng([tcfg.seed, 2, step])
        n = min(tcfg.batch_users, len(train_users))
        users = train_users[rng.choice(len(train_users), n, replace=False)]
        sub = streams.take(np.sort(users))
        tgt = sample_targets(sub, tcfg.targets_per_user, catalogue, tcfg.n_random_negatives, rng)
        params, opt_state, loss, _ = train_step(
            params, opt_state, as_batch(sub), tgt, vecs, item_text
        )
        losses.append(loss)  # stays on device until the evaluation below
        if step % tcfg.eval_every == 0 or step == tcfg.max_steps:
            v = valid_loss(params)
            tr = float(jnp.mean(jnp.stack(losses)))
            losses = []
            history.append({"step": step, "train_loss": tr, "valid_loss": v})
            bar.set_postfix(train=f"{tr:.3f}", valid=f"{v:.3f}")
            if v < best_loss:
                best_loss, bad = v, 0
                best = jax.tree.map(lambda x: np.array(x, copy=True), params)  # donated
            else:
                bad += 1
                if bad >= tcfg.patience:
                    break
    bar.close()
    log = {
        "steps": step,
        "best_valid_loss": best_loss,
        "history": history,
        "n_train_users": int(len(train_users)),
        "n_valid_users": int(len(valid_users)),
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
    }
    return best, log
