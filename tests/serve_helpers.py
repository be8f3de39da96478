"""Helpers for the server tests: export a tiny random model, start `jaxinterest serve` in a
subprocess on a free loopback port, and the library-side reference for its outputs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.cli import main as cli_main


def export_tiny(out: Path, preset: str = "tiny-1m", seed: int = 0) -> Path:
    """A random-init preset exported with `jaxinterest export` (what the server loads)."""
    assert cli_main(["export", "--preset", preset, "--seed", str(seed), "--to", str(out)]) == 0
    return out


class Server:
    """`jaxinterest serve` in a subprocess; `url` once it printed its port."""

    def __init__(self, checkpoint: Path, *extra: str, timeout: float = 180.0):
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        env.pop("XLA_FLAGS", None)  # one device, as a user runs it
        cmd = [
            sys.executable,
            "-m",
            "jaxinterest.cli",
            "serve",
            "--checkpoint",
            str(checkpoint),
            "--port",
            "0",
            *extra,
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout
        self.url = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.proc.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.lines))
        # keep draining the output so the pipe never blocks the server
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


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
