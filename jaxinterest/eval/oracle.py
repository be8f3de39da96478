"""Ceiling diagnostics: query lists written from the world's latent interests (oracle/).

DIAGNOSTIC ONLY. These recommenders read `oracle/interests.parquet`, which no model, reward,
prompt, SFT target or baseline may see (tests/test_oracle_boundary.py enforces that
`rewards/`, `train/`, `clean/` and `baselines/` never import the oracle readers). They bound
what knowing a user's interests is worth on a world, so that a comparison between
recommenders is read against the instrument's range:

- oracle-interests: two queries per interest alive in the test week, "<entity> <sub-topic>"
  and "<entity>" (the sub-topic alone for topic-only interests), heaviest interest first: about
  the best a recommender that knew the interests and which of them survive could write. The
  second query lets the interest's articles rise in the score-fusion merge as a user's repeated
  searches do; one query per interest reaches about 0.85x of it (docs/world.md).
- oracle-any: the same for every interest of the training month, alive or not, heaviest first:
  what knowing the interests is worth without knowing which ones drift away.
"""

from __future__ import annotations

import numpy as np

from jaxinterest.data.columns import column
from jaxinterest.data.io import load_oracle_interests

ORACLE_RECOMMENDERS = ("oracle-interests", "oracle-any")
NOTICE = "diagnostic: reads oracle/interests.parquet (latent interests); never a model input"


def interest_queries(entity: str | None, subtopic: str) -> list[str]:
    """The queries an oracle writes for one interest."""
    return [f"{entity} {subtopic}", entity] if entity else [subtopic]


def oracle_queries(world, name: str, n: int = 10) -> dict[str, list[str]]:
    """{user_id: queries} for every user of the world (users without interests get [])."""
    if name not in ORACLE_RECOMMENDERS:
        raise ValueError(f"unknown oracle recommender {name!r}; use one of {ORACLE_RECOMMENDERS}")
    t = load_oracle_interests(world.path)
    users = column(t, "user_id")
    weight = np.asarray(column(t, "weight"), np.float64)
    end = np.asarray(column(t, "end"), np.int64)
    alive = end >= int(world.meta["test_start"])
    keep = alive if name == "oracle-interests" else np.ones(len(users), bool)
    out: dict[str, list[str]] = {u: [] for u in column(world.users, "user_id")}
    queries = [
        interest_queries(e, s)
        for e, s in zip(column(t, "entity"), column(t, "subtopic"), strict=True)
    ]
    for i in sorted(np.flatnonzero(keep), key=lambda i: (users[i], -weight[i], i)):
        lst = out.setdefault(users[i], [])
        for q in queries[i]:
            if len(lst) < n and q not in lst:
                lst.append(q)
    return out
