"""The optimiser: AdamW with linear warmup then cosine decay, after global-norm clipping.

One frozen `OptimConfig` -> one optax `GradientTransformation`. The schedule reads optax's own
step count inside the optimiser state, so a skipped (non-finite) update does not advance it.
"""

from __future__ import annotations

import dataclasses

import jax
import optax


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """AdamW + warmup/cosine + clipping. Hashable (a static jit argument).

    lr: peak learning rate, reached after `warmup_steps` linear steps from 0; then cosine
    decay to `lr * final_lr_ratio` at `total_steps` (flat after). clip_norm: global gradient
    norm cap (0 disables). Weight decay skips norm scales and biases (1-d per layer).
    """

    lr: float = 1e-5
    warmup_steps: int = 0
    total_steps: int = 1000
    final_lr_ratio: float = 0.1
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 1.0

    def __post_init__(self):
        if self.lr < 0 or self.warmup_steps < 0 or self.clip_norm < 0:
            raise ValueError(f"lr, warmup_steps and clip_norm must be >= 0: {self}")
        if self.total_steps < max(self.warmup_steps, 1):
            raise ValueError(
                f"total_steps={self.total_steps} must be >= warmup_steps={self.warmup_steps} "
                "and >= 1"
            )


def make_schedule(cfg: OptimConfig) -> optax.Schedule:
    """Learning rate as a function of the optimiser step (0-based count of applied updates)."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        decay_steps=cfg.total_steps,
        end_value=cfg.lr * cfg.final_lr_ratio,
    )


def decay_mask(params):
    """True for the weights weight decay applies to: matrices, not norm scales or biases."""

    def keep(path, _):
        name = jax.tree_util.keystr(path)
        return not ("scale" in name or "bias" in name)

    return jax.tree_util.tree_map_with_path(keep, params)


def make_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    """clip_by_global_norm(clip_norm) -> AdamW(schedule, weight decay on matrices only)."""
    adamw = optax.adamw(
        make_schedule(cfg),
        b1=cfg.b1,
        b2=cfg.b2,
        eps=cfg.eps,
        weight_decay=cfg.weight_decay,
        mask=decay_mask,
    )
    if cfg.clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), adamw)
    return adamw
