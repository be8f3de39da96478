"""Data: the synthetic world, its file schema and validation, prompts and the Grain pipeline.

Layout of a world directory: docs/data.md. The Grain pipeline (`jaxinterest.data.pipeline`)
is imported on first use: Grain takes about a second to import and most callers only read files.
"""

import importlib

from jaxinterest.data.answer import ParseResult, format_queries, parse_queries
from jaxinterest.data.io import World, load_noise_labels, load_oracle_interests, load_world
from jaxinterest.data.prompts import Prompt, PromptConfig, render_prompt
from jaxinterest.data.schema import SchemaError
from jaxinterest.data.world import PRESETS, WorldConfig, generate_world, make_config

__all__ = [
    "PRESETS",
    "ParseResult",
    "PipelineConfig",
    "Prompt",
    "PromptConfig",
    "SchemaError",
    "UserSource",
    "World",
    "WorldConfig",
    "build_dataset",
    "format_queries",
    "generate_world",
    "keep_all",
    "load_noise_labels",
    "load_oracle_interests",
    "load_world",
    "make_config",
    "parse_queries",
    "render_prompt",
]

_LAZY = {"PipelineConfig", "UserSource", "build_dataset", "keep_all"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module("jaxinterest.data.pipeline"), name)
    raise AttributeError(f"module 'jaxinterest.data' has no attribute {name!r}")
