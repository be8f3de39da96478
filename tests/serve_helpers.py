"""Helpers for the server tests: export a tiny random model, start `jaxinterest serve` in a
subprocess on a free loopback port, and the library-side reference for its outputs."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.cli import main as cli_main


def export_tiny(out: Path, preset: str = "tiny-1m", seed: int = 0) -> Path:
    """A random-init preset exported with `jaxinterest export` (what the server loads)."""
    assert cli_main(["export", "--preset", preset, "--seed", str(seed), "--to", str(out)]) == 0
    return out


def start_server(checkpoint: Path, *extra: str):
    """`jaxinterest serve` on a free loopback port, one CPU device as a user runs it (no start-up
    warm-up: the tests need a fast start, not steady-state speed)."""
    from jaxinterest.serve import launch

    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    env.pop("XLA_FLAGS", None)
    return launch.ours(checkpoint, "--no-warmup", *extra, env=env)


def library_choices(
    cfg,
    params,
    tokenizer,
    prompt_ids,
    *,
    max_tokens,
    temperature=1.0,
    top_p=1.0,
    top_k=0,
    n=1,
    seed=0,
):
    """(texts, token-id lists, raw log-prob lists, generated counts) from `generate` called on
    this prompt alone with key(seed), the EOS left out of texts and ids: what the server must
    answer."""
    from jaxinterest.sampling import SamplingParams, generate
    from jaxinterest.serve.model import pad_id, stop_ids

    sampling = SamplingParams(
        max_new_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        stop_ids=stop_ids(tokenizer, cfg.vocab_size),
        num_samples=n,
    )
    out = generate(
        params,
        cfg,
        [list(prompt_ids)],
        sampling,
        key=jax.random.key(seed),
        pad_id=pad_id(tokenizer),
    )
    ids = out.completions(strip_eos=True)
    lps = [list(out.logprobs_raw[r, : len(ids[r])]) for r in range(len(ids))]
    return out.texts(tokenizer), ids, lps, [int(n) for n in out.lengths]


def forward_logprobs(cfg, params, ids) -> np.ndarray:
    """[T] log p(ids[t] | ids[:t]) from the model's forward logits (entry 0: nan)."""
    from jaxinterest.models.qwen2 import forward

    logits = np.asarray(forward(params, jnp.asarray([ids]), cfg)[0], np.float64)
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    out = np.full(len(ids), np.nan)
    out[1:] = logits[np.arange(len(ids) - 1), ids[1:]] - logz[:-1]
    return out
