"""The paper's five baselines (Table 2) in JAX: GRU, SASRec, NRHUB, PinSage-style, HSTU.

Each model reads a user's training-window behaviour (`data.py`), represents articles by their
MiniLM title embeddings through a learned item tower (`layers.py`), trains on next-click
prediction (`train.py`) and is scored by the shared evaluation protocol (`evaluate.py`).
`run.run_baselines` does all of it for a world; `jaxinterest baselines` is its command.
"""

from jaxinterest.baselines.config import ModelConfig, TrainConfig
from jaxinterest.baselines.registry import MODELS, NAMES, make_config, parse_models
from jaxinterest.baselines.run import run_baselines

__all__ = [
    "MODELS",
    "NAMES",
    "ModelConfig",
    "TrainConfig",
    "make_config",
    "parse_models",
    "run_baselines",
]
