"""The distillation teacher: local params (any size, dtype, sharding) or a remote log-prob server.

Both answer `token_logprobs(batch, width)`: [B, T] float32 log pi_teacher(token t | tokens < t)
on the completion tokens of a packed batch (the layout of `sampling.pack`), 0 elsewhere; that
is all the `sampled` estimator needs. Only a `LocalTeacher` has `params` for the `exact`
estimator (full-vocabulary logits cannot come over HTTP at 151,936 entries per token).

`RemoteTeacher` asks an OpenAI-compatible `/v1/completions` endpoint to score token ids:
`prompt` = each row's prompt + completion ids (no re-tokenization: teacher and student share a
tokenizer), `max_tokens` 1 and `prompt_logprobs` 0 (vLLM's field, which `jaxinterest serve`
implements too): the answer lists, per prompt token, `{token_id: {"logprob": ...}}`. Rows go
`rows_per_request` to a request, `concurrency` requests at a time (the server batches them);
transport errors and 5xx/429 are retried with backoff; anything else, or an answer that does
not score every token, raises `TeacherError` naming the row.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterest.train.kl_chunks import chunked_token_logprobs

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class TeacherError(ValueError):
    """The teacher could not score a batch (a dead server, a refused request, a bad answer)."""


def cast_params(params, dtype: str):
    """Floating leaves cast to `dtype` ("float32" or "bfloat16"); sharding kept."""
    if dtype not in DTYPES:
        raise ValueError(f"teacher dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    target = DTYPES[dtype]
    return jax.tree.map(
        lambda x: x.astype(target) if jnp.issubdtype(x.dtype, jnp.floating) else x, params
    )


@functools.cache
def _logprob_fn(cfg, width, chunk):
    return jax.jit(functools.partial(chunked_token_logprobs, cfg=cfg, width=width, chunk=chunk))


@dataclasses.dataclass(frozen=True, eq=False)
class LocalTeacher:
    """A teacher held in this process. `params` is what the exact estimator's update step gets
    as `frozen`; bf16 params run the decoder in bf16 with float32 logits and softmax."""

    cfg: Any  # Qwen2Config
    params: Any
    chunk: int = 16

    def token_logprobs(self, batch, width: int | None = None) -> np.ndarray:
        fn = _logprob_fn(self.cfg, width, self.chunk)
        arrays = {k: batch[k] for k in ("tokens", "attention_mask", "completion_mask")}
        return np.asarray(fn(self.params, arrays), np.float32)


def completions_url(url: str) -> str:
    """The /v1/completions URL from a base URL (".../v1", the server root) or the full path."""
    url = url.rstrip("/")
    if url.endswith("/completions"):
        return url
    return url + "/completions" if url.endswith("/v1") else url + "/v1/completions"


@dataclasses.dataclass(frozen=True)
class RemoteTeacher:
    """Teacher log-probs from an HTTP server (see the module docstring)."""

    url: str
    model: str | None = None
    rows_per_request: int = 16
    concurrency: int = 4
    timeout: float = 120.0
    retries: int = 3

    def __post_init__(self):
        if self.rows_per_request < 1 or self.concurrency < 1 or self.retries < 0:
            raise ValueError(
                "RemoteTeacher needs rows_per_request >= 1, concurrency >= 1, retries >= 0"
            )

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            completions_url(self.url), data, {"Content-Type": "application/json"}
        )
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2**attempt, 8.0))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}: {err.read()[:300].decode(errors='replace')}"
                if err.code < 500 and err.code != 429:
                    break  # the request itself is wrong: retrying cannot help
            except (OSError, json.JSONDecodeError) as err:
                last = f"{type(err).__name__}: {err}"
        raise TeacherError(f"teacher server {self.url}: {last}")

    def _score(self, rows: list[list[int]], first: int) -> list[list[float]]:
        body = {"prompt": rows, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
        if self.model:
            body["model"] = self.model
        choices = self._post(body).get("choices")
        if not isinstance(choices, list) or len(choices) != len(rows):
            raise TeacherError(
                f"teacher server {self.url}: expected {len(rows)} choices for rows "
                f"{first}..{first + len(rows) - 1}, got {type(choices).__name__}"
            )
        out = []
        for i, (ids, choice) in enumerate(zip(rows, choices, strict=True)):
            listed = choice.get("prompt_logprobs") if isinstance(choice, dict) else None
            if not isinstance(listed, list) or len(listed) != len(ids):
                raise TeacherError(
                    f"teacher server {self.url}: row {first + i} has {len(ids)} tokens but the "
                    "answer's prompt_logprobs does not list one entry per token"
                )
            lps = [0.0]  # token 0 has no context
            for t in range(1, len(ids)):
                entry = listed[t] if isinstance(listed[t], dict) else {}
                got = entry.get(str(ids[t]))
                if not isinstance(got, dict) or not isinstance(got.get("logprob"), int | float):
                    raise TeacherError(
                        f"teacher server {self.url}: row {first + i}, token {t} (id {ids[t]}) "
                        "has no log-prob in the answer"
                    )
                lps.append(float(got["logprob"]))
            out.append(lps)
        return out

    def token_logprobs(self, batch, width: int | None = None) -> np.ndarray:
        """[B, T] like `LocalTeacher.token_logprobs`. A row's real tokens (attention_mask) must
        be contiguous, as `sampling.pack` lays them out; `width` is accepted for symmetry (the
        server scores every token; the completion mask selects)."""
        del width
        tokens = np.asarray(batch["tokens"])
        real = np.asarray(batch["attention_mask"]).astype(bool)
        target = np.asarray(batch["completion_mask"]).astype(bool)
        rows, cols = [], []
        for b in range(tokens.shape[0]):
            idx = np.flatnonzero(real[b])
            if len(idx) and idx[-1] - idx[0] + 1 != len(idx):
                raise ValueError(f"row {b}: real tokens are not contiguous (not a packed batch)")
            rows.append([int(t) for t in tokens[b, idx]])
            cols.append(idx)
        n = self.rows_per_request
        starts = range(0, len(rows), n)
        with ThreadPoolExecutor(self.concurrency) as pool:
            parts = list(pool.map(lambda s: self._score(rows[s : s + n], s), starts))
        out = np.zeros(tokens.shape, np.float32)
        for b, lps in enumerate(lp for part in parts for lp in part):
            out[b, cols[b]] = lps
        return np.where(target, out, 0.0).astype(np.float32)


def load_teacher(spec: str, *, dtype: str = "float32", chunk: int = 16, seed: int = 0, **remote):
    """A teacher from a spec: "http://..." / "https://..." -> RemoteTeacher(spec, **remote);
    otherwise a policy spec for `train.policy.load_policy` (a checkpoint directory,
    "preset:NAME", "smollm2") -> LocalTeacher with params cast to `dtype`.
    Returns (teacher, tokenizer or None for a remote teacher)."""
    if spec.startswith(("http://", "https://")):
        return RemoteTeacher(spec, **remote), None
    from jaxinterest.train.policy import load_policy

    policy = load_policy(spec, seed=seed)
    return LocalTeacher(policy.cfg, cast_params(policy.params, dtype), chunk), policy.tokenizer
