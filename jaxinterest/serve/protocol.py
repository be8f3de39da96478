"""OpenAI request bodies -> validated, frozen requests; every rejection a `RequestError`.

Supported: `/v1/completions` (prompt as text, list of texts, token ids or lists of token ids;
`echo`, `logprobs` = number of alternatives per token, and vLLM's `prompt_logprobs`) and
`/v1/chat/completions` (`messages` through the model's chat template; `logprobs` +
`top_logprobs`). Both take `n`, `temperature`, `top_p`, `top_k` (vLLM's extension), `max_tokens`,
`stop`, `seed`. Unknown fields are ignored, as OpenAI servers do; fields that would change the
output and are not implemented (streaming, penalties, logit_bias, best_of != n, tools, ...) are
rejected with a 400 naming the field, never silently dropped.
"""

from __future__ import annotations

import dataclasses

SEED_RANGE = (0, 2**32)  # jax.random.key keeps 32 bits of the seed without x64
ROLES = ("system", "user", "assistant", "tool")


class RequestError(Exception):
    """A request the server refuses: HTTP status, message, offending field."""

    def __init__(self, status: int, message: str, param: str | None = None, code=None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {
            "error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}
        }


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request bounds; every excess is a 4xx naming the bound."""

    max_body_bytes: int = 1 << 20
    max_prompt_tokens: int = 4096
    max_tokens: int = 1024
    max_n: int = 16
    max_prompts: int = 64  # prompts in one /v1/completions list
    max_logprobs: int = 20  # alternatives per token


@dataclasses.dataclass(frozen=True)
class Sampling:
    """The part of a request that must agree for requests to share one sampler call."""

    temperature: float
    top_p: float
    top_k: int
    n: int

    def normalized(self) -> Sampling:
        """Greedy ignores top-p and top-k: equal keys for every greedy request."""
        return Sampling(0.0, 1.0, 0, self.n) if self.temperature == 0 else self


@dataclasses.dataclass(frozen=True)
class Request:
    """One validated request. `prompts` are token ids (one tuple per prompt; chat: one)."""

    chat: bool
    prompts: tuple[tuple[int, ...], ...]
    sampling: Sampling
    max_tokens: int
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None  # None: no log-probs; k: k alternatives per token
    echo: bool = False
    prompt_logprobs: int | None = None

    @property
    def scoring_only(self) -> bool:
        return self.max_tokens == 0


_MISSING = object()


def _get(body: dict, name: str, kinds, default, what: str):
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        return default
    # bool is an int in Python; a JSON true is never a valid number here.
    if isinstance(value, bool) and bool not in kinds:
        raise RequestError(400, f"'{name}' must be {what}, got {value!r}", name)
    if not isinstance(value, kinds):
        raise RequestError(400, f"'{name}' must be {what}, got {type(value).__name__}", name)
    return value


def _int(body, name, default, lo, hi):
    value = _get(body, name, (int,), default, "an integer")
    if value is not None and not lo <= value <= hi:
        raise RequestError(400, f"'{name}' must be in [{lo}, {hi}], got {value}", name)
    return value


def _float(body, name, default, lo, hi, lo_open=False):
    value = float(_get(body, name, (int, float), default, "a number"))
    if not (lo < value if lo_open else lo <= value) or not value <= hi:
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise RequestError(400, f"'{name}' must be in {bound}, got {value}", name)
    return value


def _refuse_unsupported(body: dict) -> None:
    if body.get("stream"):
        raise RequestError(400, "'stream' is not supported: send stream=false", "stream")
    for name in ("presence_penalty", "frequency_penalty", "repetition_penalty"):
        value = body.get(name)
        if value not in (None, 0, 0.0) and not (name == "repetition_penalty" and value == 1):
            raise RequestError(400, f"'{name}' is not supported (only the neutral value)", name)
    for name in ("logit_bias", "tools", "functions", "suffix", "response_format"):
        value = body.get(name)
        if value and not (name == "response_format" and value == {"type": "text"}):
            raise RequestError(400, f"'{name}' is not supported", name)
    if body.get("best_of") not in (None, body.get("n", 1)):
        raise RequestError(400, "'best_of' is not supported (it must equal n)", "best_of")


def _stop(body) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise RequestError(400, "'stop' must be a non-empty string or a list of them", "stop")
    if len(stop) > 4:
        raise RequestError(400, f"'stop' takes at most 4 sequences, got {len(stop)}", "stop")
    return tuple(stop)


def check_model(body: dict, served: str) -> None:
    name = body.get("model")
    if name is not None and name != served:
        raise RequestError(
            404,
            f"model {name!r} does not exist; this server serves {served!r}",
            "model",
            "model_not_found",
        )


def _common(body: dict, limits: Limits, default_max_tokens, lo_max_tokens: int) -> dict:
    _refuse_unsupported(body)
    n = _int(body, "n", 1, 1, limits.max_n)
    return dict(
        sampling=Sampling(
            temperature=_float(body, "temperature", 1.0, 0.0, 2.0),
            top_p=_float(body, "top_p", 1.0, 0.0, 1.0, lo_open=True),
            top_k=max(0, _int(body, "top_k", 0, -1, 1 << 30)),  # vLLM: -1 (or 0) = off
            n=n,
        ),
        max_tokens=_int(body, "max_tokens", default_max_tokens, lo_max_tokens, limits.max_tokens),
        stop=_stop(body),
        seed=_int(body, "seed", None, SEED_RANGE[0], SEED_RANGE[1] - 1),
    )


def _check_prompt(ids: list[int], where: str, vocab: int, limits: Limits, context: int) -> None:
    if not ids:
        raise RequestError(400, f"{where} is empty", "prompt")
    bad = [t for t in ids if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < vocab]
    if bad:
        raise RequestError(400, f"{where} has token ids outside [0, {vocab}): {bad[:5]}", "prompt")
    cap = min(limits.max_prompt_tokens, context - 1)
    if len(ids) > cap:
        raise RequestError(400, f"{where} has {len(ids)} tokens; the limit is {cap}", "prompt")


def _finish(req: dict, prompts, context: int, limits: Limits) -> dict:
    longest = max(len(p) for p in prompts)
    if req["max_tokens"] is None:  # chat default: what the context leaves, within the limit
        req["max_tokens"] = min(limits.max_tokens, context - longest)
    if longest + req["max_tokens"] > context:
        raise RequestError(
            400,
            f"{longest} prompt tokens + max_tokens {req['max_tokens']} exceed the context of "
            f"{context} tokens",
            "max_tokens",
        )
    return req


def parse_completion(body, model, limits: Limits) -> Request:
    """/v1/completions body -> Request. `model`: a ServedModel (encode, cfg, context)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    check_model(body, model.name)
    prompt = body.get("prompt", _MISSING)
    if prompt is _MISSING:
        raise RequestError(400, "'prompt' is required", "prompt")
    if isinstance(prompt, str) or (
        isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt)
    ):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt:
        raise RequestError(
            400,
            "'prompt' must be a string, a list of strings, a list of token "
            "ids or a list of token-id lists",
            "prompt",
        )
    if len(prompt) > limits.max_prompts:
        raise RequestError(
            400,
            f"'prompt' holds {len(prompt)} prompts; the limit is {limits.max_prompts}",
            "prompt",
        )
    prompts = []
    for i, p in enumerate(prompt):
        if isinstance(p, str):
            ids = model.encode(p)
        elif isinstance(p, list):
            ids = p
        else:
            raise RequestError(400, f"prompt {i} must be a string or a list of token ids", "prompt")
        _check_prompt(ids, f"prompt {i}", model.cfg.vocab_size, limits, model.context)
        prompts.append(tuple(ids))
    echo = _get(body, "echo", (bool,), False, "a boolean")
    logprobs = _int(body, "logprobs", None, 0, limits.max_logprobs)
    prompt_logprobs = _int(body, "prompt_logprobs", None, 0, limits.max_logprobs)
    scoring = echo or prompt_logprobs is not None
    req = _common(body, limits, 16, 0 if scoring else 1)
    if req["sampling"].n > 1 and req["max_tokens"] == 0:
        raise RequestError(400, "n > 1 needs max_tokens > 0", "n")
    req = _finish(req, prompts, model.context, limits)
    return Request(
        chat=False,
        prompts=tuple(prompts),
        logprobs=logprobs,
        echo=echo,
        prompt_logprobs=prompt_logprobs,
        **req,
    )


def _content(message: dict, i: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text only
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise RequestError(
                    400, f"messages[{i}]: only text content parts are supported", "messages"
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise RequestError(400, f"messages[{i}].content must be a string", "messages")


def parse_chat(body, model, limits: Limits) -> Request:
    """/v1/chat/completions body -> Request (messages rendered with the chat template)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    check_model(body, model.name)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list", "messages")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestError(400, f"messages[{i}] needs a role in {ROLES}", "messages")
        clean.append({"role": m["role"], "content": _content(m, i)})
    try:
        ids = model.encode_chat(clean)
    except ValueError as err:
        raise RequestError(400, str(err), "messages") from None
    except Exception as err:  # a template may raise on a message order it does not accept
        raise RequestError(
            400, f"the chat template rejected the messages: {err}", "messages"
        ) from None
    _check_prompt(ids, "the rendered chat", model.cfg.vocab_size, limits, model.context)
    if body.get("max_completion_tokens") is not None and body.get("max_tokens") is None:
        body = {**body, "max_tokens": body["max_completion_tokens"]}
    want = _get(body, "logprobs", (bool,), False, "a boolean")
    top = _int(body, "top_logprobs", 0, 0, limits.max_logprobs)
    req = _common(body, limits, None, 1)
    req = _finish(req, [ids], model.context, limits)
    return Request(chat=True, prompts=(tuple(ids),), logprobs=top if want else None, **req)
