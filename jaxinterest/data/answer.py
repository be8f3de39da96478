"""The answer format: a JSON array of n short query strings, written and parsed.

`parse_queries` never raises. It always returns the queries it could recover (for retrieval
and diagnostics) and says whether the output met the format exactly (`valid`, used by
R_struct) and, if not, why (`reason`). A valid answer is the bare JSON array (surrounding
whitespace allowed) of 1..n_max distinct, non-empty strings of at most `max_chars` characters,
with exactly `n_exact` items when that is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_QUERY_CHARS = 120
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass(frozen=True)
class ParseResult:
    queries: tuple[str, ...]
    valid: bool
    reason: str  # "ok" or why the output breaks the format


def format_queries(queries) -> str:
    """SFT target form: a compact JSON array (non-ASCII kept as is)."""
    return json.dumps([str(q) for q in queries], ensure_ascii=False)


def _norm(q: str) -> str:
    return " ".join(q.split())


def _clean(items, n_max: int, max_chars: int) -> tuple[list[str], list[str]]:
    """Keep usable strings; return (queries, problems found)."""
    out, seen, probs = [], set(), []
    for it in items:
        if not isinstance(it, str):
            probs.append("non-string item")
            continue
        q = _norm(it)
        if not q:
            probs.append("empty query")
            continue
        if len(q) > max_chars:
            probs.append(f"query longer than {max_chars} characters")
            continue
        key = q.lower()
        if key in seen:
            probs.append("duplicate query")
            continue
        seen.add(key)
        out.append(q)
    if len(out) > n_max:
        probs.append(f"more than {n_max} queries")
        out = out[:n_max]
    return out, probs


def parse_queries(
    text, n_max: int = 10, n_exact: int | None = None, max_chars: int = MAX_QUERY_CHARS
) -> ParseResult:
    """Parse a model answer; never raises (garbage in -> valid=False with a reason)."""
    try:
        return _parse(text, n_max, n_exact, max_chars)
    except Exception as err:  # noqa: BLE001 - the contract is "never raises"
        return ParseResult((), False, f"unparseable output ({type(err).__name__})")


def _parse(text, n_max: int, n_exact: int | None, max_chars: int) -> ParseResult:
    if not isinstance(text, str):
        return ParseResult((), False, f"output is {type(text).__name__}, not text")
    s = text.strip()
    if not s:
        return ParseResult((), False, "empty output")
    wrapper = None
    m = _FENCE.match(s)
    if m:
        s, wrapper = m.group(1).strip(), "code fence around the array"
    try:
        data = json.loads(s)
    except (json.JSONDecodeError, RecursionError):
        data = None
    if data is None or not isinstance(data, list):
        lo, hi = s.find("["), s.rfind("]")
        inner = None
        if lo >= 0 and hi > lo:
            try:
                inner = json.loads(s[lo : hi + 1])
            except (json.JSONDecodeError, RecursionError):
                inner = None
        if isinstance(inner, list):
            data, wrapper = inner, wrapper or "text around the array"
        elif lo >= 0:
            # truncated or malformed array: salvage the complete string literals after '['
            salvaged = []
            for lit in _STRING.findall(s[lo:]):
                try:
                    salvaged.append(json.loads(lit))
                except json.JSONDecodeError:
                    continue
            qs, _ = _clean(salvaged, n_max, max_chars)
            why = "truncated JSON array" if hi < lo else "malformed JSON array"
            return ParseResult(tuple(qs), False, why)
        elif data is not None:
            return ParseResult((), False, f"JSON {type(data).__name__}, not an array")
        else:
            return ParseResult((), False, "no JSON array found")
    qs, probs = _clean(data, n_max, max_chars)
    if wrapper:
        probs.insert(0, wrapper)
    if not data:
        probs.append("empty array")
    if n_exact is not None and len(data) != n_exact:
        probs.append(f"{len(data)} items, expected {n_exact}")
    if probs:
        return ParseResult(tuple(qs), False, "; ".join(dict.fromkeys(probs)))
    return ParseResult(tuple(qs), True, "ok")
