"""Serving: an OpenAI-compatible HTTP server over the jitted sampler, and HF export.

build_app(model, limits=..., max_batch_rows=..., max_wait=..., batching=True) -> ASGI app
ContinuousEngine(model, rows)    continuous batching: requests join the running decode
serve_forever(app, host, port)   uvicorn on 127.0.0.1 by default, graceful shutdown
load_served_model(checkpoint | preset) -> ServedModel (config, params, tokenizer, name)
export_hf(model, out)            HF directory for transformers and vLLM
user_interests(...)              the paper's serving path: users -> queries -> articles
launch.ours / launch.vllm        a server subprocess on a loopback port (tests, bench)
"""

from jaxinterest.serve.app import build_app
from jaxinterest.serve.batcher import Batcher, Overloaded
from jaxinterest.serve.continuous import ContinuousEngine
from jaxinterest.serve.export import export_hf
from jaxinterest.serve.interests import InterestsConfig, user_interests
from jaxinterest.serve.model import ServedModel, load_served_model, pad_id, stop_ids
from jaxinterest.serve.protocol import Limits, Request, RequestError, Sampling
from jaxinterest.serve.server import run as serve_forever
from jaxinterest.serve.worker import Job, batch_key, run_batch, warm_up

__all__ = [
    "Batcher",
    "ContinuousEngine",
    "InterestsConfig",
    "Job",
    "Limits",
    "Overloaded",
    "Request",
    "RequestError",
    "Sampling",
    "ServedModel",
    "batch_key",
    "build_app",
    "export_hf",
    "load_served_model",
    "pad_id",
    "run_batch",
    "serve_forever",
    "stop_ids",
    "user_interests",
    "warm_up",
]
