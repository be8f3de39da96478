"""Jitted sampling from Qwen2-family decoders, and scoring of given completions.

generate(params, cfg, prompts, SamplingParams(max_new_tokens, temperature, top_p, top_k,
         stop_ids, num_samples), *, key, pad_id, ...) -> Generation (tokens, logprobs,
         logprobs_raw, lengths, finished, prompt_index)
score(params, cfg, prompts, completions) -> Scores (per-token log-probs [, full log-softmax])
token_logprobs / token_log_softmax: re-exported from `models.qwen2.logprobs` (the pure
versions a train step uses).
"""

from jaxinterest.models.qwen2.logprobs import token_log_softmax, token_logprobs
from jaxinterest.sampling.filters import (
    SamplingMode,
    nucleus_mask,
    nucleus_threshold_mask,
    sample_step,
)
from jaxinterest.sampling.generate import generate
from jaxinterest.sampling.inputs import bucket, left_pad, pack, right_pad
from jaxinterest.sampling.params import SamplingParams
from jaxinterest.sampling.result import Generation
from jaxinterest.sampling.score import Scores, score, score_arrays
from jaxinterest.sampling.shapes import ShapeBuckets

__all__ = [
    "Generation",
    "SamplingMode",
    "SamplingParams",
    "Scores",
    "ShapeBuckets",
    "bucket",
    "generate",
    "left_pad",
    "nucleus_mask",
    "nucleus_threshold_mask",
    "pack",
    "right_pad",
    "sample_step",
    "score",
    "score_arrays",
    "token_log_softmax",
    "token_logprobs",
]
