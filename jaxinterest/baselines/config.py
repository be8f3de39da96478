"""Frozen configs: one per model (architecture and inputs) and one for training.

Every model config carries the inputs it reads (`domains`) and the stream length, so a saved
config.json says exactly what the checkpoint was trained on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    name: str = ""
    domains: tuple[str, ...] = ("click",)  # behaviour domains the model reads
    max_len: int = 50  # most recent events of those domains kept per user
    d_model: int = 64
    item_rank: int = 64  # rank of the item tower's residual projection (layers.py)
    tie_head: bool = True  # output head = input projection transposed (layers.output_head)


@dataclass(frozen=True)
class TrainConfig:
    """Next-click training on the training window, early stopping on validation users."""

    seed: int = 0
    batch_users: int = 32
    targets_per_user: int = 16  # click positions scored per user and step (sampled)
    n_random_negatives: int = 512  # uniform over training-window clicked articles, per step
    temperature: float = 0.05  # softmax temperature on cosine scores
    lr: float = 2e-3
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    max_steps: int = 1000
    eval_every: int = 100
    patience: int = 3  # evaluations without a better validation loss before stopping
    valid_batch_users: int = 64


def to_json(cfg) -> dict:
    """A config as JSON-ready data, with its class name."""
    return {"class": type(cfg).__name__, **dataclasses.asdict(cfg)}


def fingerprint(*parts: dict) -> str:
    """A short hash of JSON-ready parts: equal configs give equal fingerprints."""
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
