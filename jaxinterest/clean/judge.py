"""Noise labels from an LLM judge with the paper's Appendix B prompt (arXiv 2602.15005).

The prompt is kept verbatim, with two repairs of the PDF-to-text extraction only: the word
"navi-gational" broken across a column is rejoined, and the inline math `$y \\in \\{0, 1\\}$`
is written as plain text "y ∈ {0, 1}". The HTTP client arrives in a later issue; here a judge is
any callable `judge_fn(messages) -> str` taking OpenAI-style chat messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from jaxinterest.clean.events import render_behaviors

JUDGE_SYSTEM_PROMPT = """\
You are a strict classifier for filtering user behavioral signals in a large-scale news \
recommendation system.

Your task is to determine whether a single user behavior reflects a meaningful informational \
interest that can contribute to long-term news interest modeling.

Be conservative. Platform navigation, login actions, generic website visits, or utility queries \
should be filtered out.

Return JSON only."""

JUDGE_USER_TEMPLATE = """\
Input: A single user behavioral signal {USER_BEHAVIOR}

Label Definition

Assign y ∈ {{0, 1}}:

- **1 (Keep):** The behavior reflects a meaningful informational interest, topic, event, entity, \
or issue that could correspond to reusable news interests.
- **0 (Filter):** The behavior is navigational, transactional, login-related, platform-related, \
generic browsing, random strings, or utility-oriented (e.g., “google”, “youtube”, \
“facebook login”, “bank account login”, “weather today”, URL-only visits).

Examples

Keep (1):

- “Ukraine Russia conflict latest updates”
- “NVIDIA earnings report Q4”
- “electric vehicle battery technology”
- “US Federal Reserve interest rate decision”

Filter (0):

- “google”
- “youtube”
- “bank login”
- “facebook sign in”
- “www.amazon.com”
- “weather”

Output Format

Return a JSON object only:

```
{{
  "label": 0 or 1
}}
```"""

JudgeFn = Callable[[list[dict]], str]


class JudgeAnswerError(ValueError):
    """A judge answer that is not a JSON object with "label" 0 or 1."""


def judge_messages(behavior: str) -> list[dict]:
    """OpenAI-style chat messages asking the judge to label one rendered behaviour."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": JUDGE_USER_TEMPLATE.format(USER_BEHAVIOR=behavior)},
    ]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_judge_label(answer: str) -> int:
    """The 0/1 label in a judge answer: a JSON object `{"label": 0 or 1}`, optionally inside a
    ``` fence. Anything else (prose, other keys only, 2, "yes", true) raises JudgeAnswerError,
    because a guessed label would silently poison the training set."""
    if not isinstance(answer, str):
        raise JudgeAnswerError(f"judge answer is {type(answer).__name__}, expected str")
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise JudgeAnswerError(f"judge answer is not JSON: {answer[:200]!r}") from err
    if not isinstance(obj, dict) or "label" not in obj:
        raise JudgeAnswerError(f'judge answer has no "label" key: {answer[:200]!r}')
    label = obj["label"]
    # bool is an int subclass in Python; `true` is not an allowed label.
    if isinstance(label, bool) or label not in (0, 1):
        raise JudgeAnswerError(f"judge label must be 0 or 1, got {label!r}")
    return int(label)


def labels_from_judge(events, judge_fn: JudgeFn, progress: bool = False) -> list[int]:
    """Label every event with the judge. `events`: a table with domain/text/url columns (see
    `clean.events`). Returns one 0/1 label per event; a malformed answer raises
    JudgeAnswerError naming the event's row and text."""
    behaviors: Sequence[str] = render_behaviors(events)
    if progress:
        from tqdm import tqdm

        behaviors = tqdm(behaviors, desc="judge", unit="event")
    labels = []
    for row, behavior in enumerate(behaviors):
        answer = judge_fn(judge_messages(behavior))
        try:
            labels.append(parse_judge_label(answer))
        except JudgeAnswerError as err:
            raise JudgeAnswerError(f"event row {row} ({behavior[:80]!r}): {err}") from err
    return labels
