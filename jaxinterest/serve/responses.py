"""Results -> OpenAI response bodies (`text_completion`, `chat.completion`).

Log-prob listings: generated tokens carry the raw model log-prob the sampler computed
(temperature 1, no filter: what vLLM calls raw log-probs); alternatives and prompt log-probs
come from one scoring forward pass (`scoring.py`). Prompt token 0 has no context: None.
`prompt_logprobs` follows vLLM: per prompt token a dict token id -> {logprob, rank,
decoded_token} holding the token itself and its top alternatives.
"""

from __future__ import annotations

import time
import uuid

from jaxinterest.serve.model import ServedModel
from jaxinterest.serve.protocol import Request
from jaxinterest.serve.scoring import TokenScores
from jaxinterest.serve.worker import JobResult


def _alternatives(model: ServedModel, s: TokenScores | None, t: int) -> list[tuple[str, float]]:
    if s is None:
        return []
    return [
        (model.token_text(i), float(lp))
        for i, lp in zip(s.top_ids[t], s.top_logprobs[t], strict=True)
    ]


def _prompt_logprobs(model: ServedModel, prompt, s: TokenScores) -> list:
    out: list = [None]
    for t in range(1, len(prompt)):
        entry = {
            str(int(prompt[t])): {
                "logprob": float(s.logprobs[t]),
                "rank": int(s.ranks[t]),
                "decoded_token": model.token_text(prompt[t]),
            }
        }
        for rank, (i, lp) in enumerate(zip(s.top_ids[t], s.top_logprobs[t], strict=True), 1):
            entry.setdefault(
                str(int(i)),
                {"logprob": float(lp), "rank": rank, "decoded_token": model.token_text(i)},
            )
        out.append(entry)
    return out


def _usage(req: Request, results: list[JobResult]) -> dict:
    prompt = sum(len(p) for p in req.prompts)
    completion = sum(c.generated for r in results for c in r.choices)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion_logprobs(model, req: Request, prompt, result: JobResult, choice) -> dict:
    k = req.logprobs
    tokens, lps, tops = [], [], []
    if req.echo:
        s = result.prompt_scores
        for t, tok in enumerate(prompt):
            tokens.append(tok)
            lps.append(None if t == 0 else float(s.logprobs[t]))
            tops.append(None if t == 0 else dict(_alternatives(model, s, t)))
    if choice is not None:
        for t, (tok, lp) in enumerate(zip(choice.tokens, choice.logprobs, strict=True)):
            tokens.append(tok)
            lps.append(lp)
            tops.append(dict(_alternatives(model, choice.alternatives, t)))
    texts = [model.token_text(t) for t in tokens]
    offsets, at = [], 0
    for text in texts:
        offsets.append(at)
        at += len(text)
    return {
        "tokens": texts,
        "token_logprobs": lps,
        "top_logprobs": tops if k else None,
        "text_offset": offsets,
    }


def completion_body(model: ServedModel, req: Request, results: list[JobResult]) -> dict:
    choices = []
    for i, (prompt, result) in enumerate(zip(req.prompts, results, strict=True)):
        prefix = model.decode(prompt) if req.echo else ""
        samples = result.choices or (None,)  # scoring only: one choice holding the prompt
        for j, c in enumerate(samples):
            choice = {
                "index": i * req.sampling.n + j,
                "text": prefix + (c.text if c is not None else ""),
                "logprobs": None,
                "finish_reason": c.finish_reason if c is not None else "length",
            }
            if req.logprobs is not None:
                choice["logprobs"] = _completion_logprobs(model, req, prompt, result, c)
            if req.prompt_logprobs is not None:
                choice["prompt_logprobs"] = _prompt_logprobs(model, prompt, result.prompt_scores)
            choices.append(choice)
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model.name,
        "choices": choices,
        "usage": _usage(req, results),
    }


def _chat_token(model: ServedModel, token: int, logprob: float) -> dict:
    return {"token": model.token_text(token), "logprob": logprob, "bytes": model.token_bytes(token)}


def chat_body(model: ServedModel, req: Request, results: list[JobResult]) -> dict:
    choices = []
    for j, c in enumerate(results[0].choices):
        logprobs = None
        if req.logprobs is not None:
            content = []
            for t, (tok, lp) in enumerate(zip(c.tokens, c.logprobs, strict=True)):
                entry = _chat_token(model, tok, lp)
                top = c.alternatives
                entry["top_logprobs"] = (
                    []
                    if top is None
                    else [
                        _chat_token(model, int(i), float(x))
                        for i, x in zip(top.top_ids[t], top.top_logprobs[t], strict=True)
                    ]
                )
                content.append(entry)
            logprobs = {"content": content}
        choices.append(
            {
                "index": j,
                "message": {"role": "assistant", "content": c.text},
                "logprobs": logprobs,
                "finish_reason": c.finish_reason,
            }
        )
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model.name,
        "choices": choices,
        "usage": _usage(req, results),
    }
