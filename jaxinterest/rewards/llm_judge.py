"""The LLM judge: Appendix A prompts to an OpenAI-compatible /v1/chat/completions server.

Per item: look the (model, prompt) up in the on-disk cache; else POST (stdlib urllib) with a
per-attempt timeout, retrying transport errors, 5xx and 429 with exponential backoff; parse the
answer strictly (`judge_prompt.parse_judge_answer`). Any failure -- dead server, timeout, HTTP
error, a body that is not a chat completion, a malformed answer -- gives that item the rubric
judge's scores, counted by reason in `JudgeScores.fallbacks` and logged; never an exception or
a NaN. Requests run on a thread pool of `concurrency`; after `2 * concurrency` transport
failures in a row the server is taken as down for the rest of the batch (remaining items fall
back at once), which bounds a batch's wall time when the server is gone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from jaxinterest.rewards.config import LLMJudgeConfig
from jaxinterest.rewards.judge_cache import JudgeCache, cache_key
from jaxinterest.rewards.judge_prompt import JudgeAnswerError, judge_messages, parse_judge_answer
from jaxinterest.rewards.judges import JudgeBatch, JudgeScores, RubricJudge

log = logging.getLogger(__name__)


class TransportError(RuntimeError):
    """No usable HTTP answer after the retries (reason in args[0])."""


def endpoint(url: str) -> str:
    """The chat-completions URL from a base URL (".../v1") or the full path."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + "/chat/completions" if url.endswith("/v1") else url + "/v1/chat/completions"


class LLMJudge:
    name = "llm"

    def __init__(self, cfg: LLMJudgeConfig, fallback: RubricJudge):
        if cfg.concurrency < 1 or cfg.timeout <= 0 or cfg.retries < 0:
            raise ValueError("LLM judge needs concurrency >= 1, timeout > 0 and retries >= 0")
        self.cfg, self.fallback = cfg, fallback
        self.url = endpoint(cfg.url)
        self.cache = JudgeCache(cfg.cache_path) if cfg.cache_path else None
        self.requests = 0  # HTTP attempts made (the cache tests read it)
        self._lock = threading.Lock()
        self._failures = 0

    def _headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.cfg.api_key_env and os.environ.get(self.cfg.api_key_env):
            h["Authorization"] = f"Bearer {os.environ[self.cfg.api_key_env]}"
        return h

    def _post(self, messages: list[dict]) -> str:
        """The answer text, or TransportError after the retries."""
        body = json.dumps({
            "model": self.cfg.model, "messages": messages,
            "temperature": self.cfg.temperature, "max_tokens": self.cfg.max_tokens,
        }).encode("utf-8", "surrogatepass")  # fmt: skip
        reason = "no attempt"
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                time.sleep(self.cfg.backoff * 2 ** (attempt - 1))
            if self._failures >= 2 * self.cfg.concurrency:
                raise TransportError("server down")
            with self._lock:
                self.requests += 1
            req = urllib.request.Request(self.url, body, self._headers(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.cfg.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as err:
                err.close()
                reason = f"http {err.code}"
                if err.code < 500 and err.code != 429:
                    break  # a client error will not change on retry
            except (TimeoutError, urllib.error.URLError, OSError) as err:
                cause = getattr(err, "reason", err)
                reason = "timeout" if isinstance(cause, TimeoutError) else "connection error"
            else:
                with self._lock:
                    self._failures = 0
                try:
                    return json.loads(raw)["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError, TypeError) as err:
                    raise TransportError("response is not a chat completion") from err
            with self._lock:
                self._failures += 1
        raise TransportError(reason)

    def _one(self, context: str, queries) -> tuple[dict | None, str]:
        """(parsed answer, "ok") or (None, fallback reason)."""
        messages = judge_messages(context, queries)
        key = cache_key(self.cfg.model, messages)
        answer = self.cache.get(key) if self.cache is not None else None
        if answer is None:
            try:
                answer = self._post(messages)
            except TransportError as err:
                return None, str(err.args[0])
            if not isinstance(answer, str):
                return None, "response is not a chat completion"
            if self.cache is not None:
                self.cache.put(key, self.cfg.model, answer)
        try:
            return parse_judge_answer(answer, len(queries)), "ok"
        except JudgeAnswerError as err:
            log.debug("malformed judge answer: %s", err)
            return None, "malformed answer"

    def score(self, batch: JudgeBatch) -> JudgeScores:
        rubric = self.fallback.score(batch)
        if not len(batch):
            return rubric
        self._failures = 0
        with ThreadPoolExecutor(self.cfg.concurrency) as pool:
            results = list(pool.map(self._one, batch.contexts, batch.queries))
        spec, cov = rubric.spec.copy(), rubric.cov.copy()
        source, details, fallbacks = list(rubric.source), list(rubric.details), Counter()
        for i, (parsed, why) in enumerate(results):
            if parsed is None:
                fallbacks[why] += 1
                source[i] = "rubric_fallback"
                continue
            spec[i], cov[i], source[i] = parsed["spec"], parsed["cov"], "llm"
            details[i] = {k: parsed[k] for k in ("spec_per_query", "themes", "covered")}
        if fallbacks:
            log.warning(
                "LLM judge %s: %d of %d items fell back to the rubric judge (%s)",
                self.url, sum(fallbacks.values()), len(batch), dict(fallbacks),
            )  # fmt: skip
        return JudgeScores(
            np.asarray(spec, np.float32), np.asarray(cov, np.float32),
            tuple(source), tuple(details), fallbacks,
        )  # fmt: skip
