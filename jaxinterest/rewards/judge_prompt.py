"""The paper's Appendix A rubric prompt (R_spec and R_cov) and a strict parser of its answer.

The prompt is kept verbatim, with repairs of the PDF-to-text extraction only: inline math
(`$w_i \\in \\{0, 1\\}$`, `$c_j \\in \\{0, 1\\}$`, the two display formulas) is written as plain
text, and the `{...}` of the output format are doubled for str.format. {USER_BEHAVIOR_CONTEXT}
is the user's shown behaviours (`UserView.context`), {GENERATED_QUERY_LIST} the parsed queries
as a JSON array (quoted strings, so a query cannot pose as part of the instructions).

The answer must be one JSON object (optionally in a ``` fence) with "R_spec" and "R_cov" numbers
in [0, 1], "spec_per_query" (n items, each 0 or 1), "themes" (>= 1 strings) and "covered" (one 0
or 1 per theme). The rubric's averages are recomputed from the per-item lists (the judgement is
the lists; arithmetic is ours); anything else raises JudgeAnswerError.
"""

from __future__ import annotations

import json
import re

from jaxinterest.data.answer import format_queries

SYSTEM_PROMPT = (
    "You are a strict evaluator for a user interest query generation system in a large-scale "
    "news recommendation setting. Score the generated query list using the rubrics below. Be "
    "consistent and conservative. Do not reward generic or vague queries. Return JSON only."
)

USER_TEMPLATE = """\
Input: Cleaned Cross-domain User Behaviors {USER_BEHAVIOR_CONTEXT}
Model Output: Generated Interest Query List {GENERATED_QUERY_LIST}

Rubrics

(1) Query Specificity (R_spec) Evaluate each query individually and then average. For each \
query z_i, assign w_i ∈ {{0, 1}}:

- **1** if z_i is specific and content-rich (e.g., includes concrete topics/events/entities, \
clear constraints, or an unambiguous intent).
- **0** if z_i is generic, overly broad, ambiguous, or mainly a platform/common category term \
(e.g., “news”, “sports”, “technology”, “YouTube”, “Google”).

Compute:

R_spec = (1/n) Σ_{{i=1}}^{{n}} w_i.

(2) Interest Coverage (R_cov) First, extract a set of distinct major interest themes from the \
user behaviors, then measure whether the query list covers them.

Step A (Theme extraction): Extract a set of distinct *major* interest themes from the \
behaviors. Use as many themes as necessary to summarize the behaviors without being overly \
granular (i.e., do not split into near-duplicate subtopics). Each theme should be short (a few \
words) and represent a coherent interest area.

Step B (Theme coverage): For each theme t_j, assign c_j ∈ {{0, 1}}:

- **1** if at least one query in the list clearly targets theme t_j.
- **0** if no query clearly covers t_j (weak or indirect matches should be scored 0).

Let K be the number of extracted themes. Compute:

R_cov = (1/K) Σ_{{j=1}}^{{K}} c_j.

Output Format

Return a JSON object *only*:

```
{{
  "R_spec": <float between 0 and 1>,
  "R_cov": <float between 0 and 1>,
  "spec_per_query": [0 or 1, ...],
  "themes": ["...", "...", "..."],
  "covered": [0 or 1, ...]
}}
```"""


class JudgeAnswerError(ValueError):
    """A judge answer that does not follow the Appendix A output format."""


def judge_messages(context: str, queries) -> list[dict]:
    """OpenAI-style chat messages asking the judge to score one query list."""
    user = USER_TEMPLATE.format(
        USER_BEHAVIOR_CONTEXT=context, GENERATED_QUERY_LIST=format_queries(queries)
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _bits(obj: dict, key: str, n: int | None, answer: str) -> list[int]:
    v = obj.get(key)
    if not isinstance(v, list) or (n is not None and len(v) != n) or not v:
        want = f"{n} items" if n is not None else "a non-empty list"
        raise JudgeAnswerError(f"{key!r} must be {want} of 0/1, got {v!r:.200}")
    if any(isinstance(b, bool) or b not in (0, 1) for b in v):
        raise JudgeAnswerError(f"{key!r} items must be 0 or 1, got {v!r:.200}")
    return [int(b) for b in v]


def parse_judge_answer(answer, n_queries: int) -> dict:
    """{"spec": float, "cov": float, "spec_per_query": [...], "themes": [...], "covered": [...]}
    from a judge answer about a list of n_queries queries; raises JudgeAnswerError."""
    if not isinstance(answer, str):
        raise JudgeAnswerError(f"judge answer is {type(answer).__name__}, expected str")
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise JudgeAnswerError(f"judge answer is not JSON: {answer[:200]!r}") from err
    if not isinstance(obj, dict):
        raise JudgeAnswerError(f"judge answer is JSON {type(obj).__name__}, not an object")
    for key in ("R_spec", "R_cov"):
        v = obj.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            raise JudgeAnswerError(f"{key!r} must be a number in [0, 1], got {v!r:.100}")
    spec = _bits(obj, "spec_per_query", n_queries, answer)
    themes = obj.get("themes")
    if not isinstance(themes, list) or not themes or not all(isinstance(t, str) for t in themes):
        raise JudgeAnswerError(f"'themes' must be a non-empty list of strings, got {themes!r:.200}")
    covered = _bits(obj, "covered", len(themes), answer)
    return {
        "spec": sum(spec) / len(spec),
        "cov": sum(covered) / len(covered),
        "spec_per_query": spec,
        "themes": themes,
        "covered": covered,
    }
