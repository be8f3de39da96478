"""Prompt rendering (behaviours -> chat prompt) and the answer format (JSON array of queries).

The user message lists behaviours grouped by domain, most recent first. When the whole history
does not fit the token budget, events are admitted by recency rank, round-robin over domains
(the newest search, browse and click first, then the second newest of each, ...), so every
domain keeps its freshest signals. Tokenizers with a chat template (Qwen2.5) get
`apply_chat_template`; others (the tiny BPE family) get a plain "### System / ### User /
### Answer" layout. The answer is a JSON array of n short query strings: `format_queries` writes
it (SFT targets) and `parse_queries` reads any model output without raising (R_struct).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxinterest.data.answer import ParseResult, format_queries, parse_queries  # noqa: F401

SYSTEM_PROMPT = (
    "You are a news recommendation assistant. From a user's recent search queries, visited web "
    "pages and clicked news articles, infer the user's reusable news interests and write short, "
    "specific news search queries that would retrieve articles this user wants to read next."
)
SECTION = {"search": "Search queries", "browse": "Web pages visited", "click": "News articles read"}
DOMAIN_ORDER = ("search", "browse", "click")


@dataclass(frozen=True)
class PromptConfig:
    n_queries: int = 5
    max_prompt_tokens: int = 1024  # budget for the whole rendered prompt (template included)
    max_chars_per_event: int = 160  # one runaway page title cannot eat the budget
    system_prompt: str = SYSTEM_PROMPT


@dataclass(frozen=True)
class Prompt:
    text: str  # rendered prompt (chat template applied, generation prompt appended)
    token_ids: list[int]
    messages: tuple[dict, ...]
    n_events: dict  # domain -> events shown


def _line(domain: str, text: str, url: str | None, cap: int) -> str:
    text = " ".join(str(text).split())[:cap]
    if domain == "browse" and url:
        host = str(url).split("//")[-1].split("/")[0][:60].removeprefix("www.")
        if host and host not in text:
            return f"- {text} ({host})"
    return f"- {text}"


def _user_message(lines: dict[str, list[str]], n: int) -> str:
    parts = ["Here is the user's recent activity, most recent first."]
    for d in DOMAIN_ORDER:
        body = "\n".join(lines.get(d, [])) or "- (none)"
        parts.append(f"{SECTION[d]}:\n{body}")
    parts.append(
        f"Write exactly {n} short news search queries that capture this user's interests. "
        f"Answer with a JSON array of {n} strings and nothing else."
    )
    return "\n\n".join(parts)


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_messages(messages: list[dict], tokenizer) -> str:
    """Chat template when the tokenizer has one, else the plain layout."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = {"system": "### System", "user": "### User", "assistant": "### Answer"}
    body = "".join(f"{head[m['role']]}\n{m['content']}\n\n" for m in messages)
    return body + "### Answer\n"


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def render_prompt(domains, texts, urls, timestamps, tokenizer, cfg: PromptConfig) -> Prompt:
    """One user's prompt. Inputs are [n] sequences for that user's (already cleaned) events."""
    domains, texts = list(domains), list(texts)
    urls = list(urls) if urls is not None else [None] * len(texts)
    ts = np.asarray(timestamps, np.int64)
    by_dom: dict[str, list[str]] = {}
    for d in DOMAIN_ORDER:
        idx = [i for i, x in enumerate(domains) if x == d]
        idx.sort(key=lambda i: -ts[i])  # most recent first (stable for equal times)
        by_dom[d] = [_line(d, texts[i], urls[i], cfg.max_chars_per_event) for i in idx]
    msgs = lambda lines: (  # noqa: E731
        {"role": "system", "content": cfg.system_prompt},
        {"role": "user", "content": _user_message(lines, cfg.n_queries)},
    )
    budget = cfg.max_prompt_tokens - _count(tokenizer, render_messages(list(msgs({})), tokenizer))
    if budget < 0:
        raise ValueError(
            f"max_prompt_tokens={cfg.max_prompt_tokens} is smaller than the prompt "
            f"template itself ({cfg.max_prompt_tokens - budget} tokens)"
        )
    # admit events by recency rank, round-robin over domains, while the line costs fit
    all_lines = [ln for d in DOMAIN_ORDER for ln in by_dom[d]]
    costs = iter(tokenizer(all_lines, add_special_tokens=False)["input_ids"] if all_lines else [])
    cost = {d: [len(next(costs)) + 1 for _ in by_dom[d]] for d in DOMAIN_ORDER}  # +1: newline
    take = {d: 0 for d in DOMAIN_ORDER}
    used, progress = 0, True
    while progress:
        progress = False
        for d in DOMAIN_ORDER:
            k = take[d]
            if k < len(cost[d]) and used + cost[d][k] <= budget:
                used += cost[d][k]
                take[d] += 1
                progress = True
    while True:  # exact check on the rendered text; token merges at joins can differ slightly
        messages = msgs({d: by_dom[d][: take[d]] for d in DOMAIN_ORDER})
        text = render_messages(list(messages), tokenizer)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= cfg.max_prompt_tokens or not any(take.values()):
            break
        d = max(DOMAIN_ORDER, key=lambda x: take[x])  # drop the oldest line of the longest list
        take[d] -= 1
    return Prompt(text=text, token_ids=list(ids), messages=messages, n_events=dict(take))
