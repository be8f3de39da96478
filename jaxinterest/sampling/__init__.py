"""Jitted sampling from Qwen2-family decoders, and scoring of given completions.

generate(params, cfg, prompts, max_new_tokens=..., num_samples=G, temperature, top_p, top_k,
         key, eos_ids, pad_id) -> Generation (tokens, logprobs, logprobs_raw, lengths, ...)
score(params, cfg, prompts, completions) -> Scores (per-token log-probs [, full log-softmax])
token_logprobs / token_log_softmax: the pure versions for use inside train steps.
"""

from jaxinterest.sampling.filters import (
    SamplingMode,
    nucleus_mask,
    nucleus_threshold_mask,
    sample_step,
)
from jaxinterest.sampling.generate import generate
from jaxinterest.sampling.inputs import bucket, left_pad, pack, right_pad
from jaxinterest.sampling.result import Generation
from jaxinterest.sampling.score import (
    Scores,
    score,
    score_arrays,
    token_log_softmax,
    token_logprobs,
)

__all__ = [
    "Generation",
    "SamplingMode",
    "Scores",
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
