"""Reward configuration: weights, normalisation, the rubric judge's thresholds, the LLM judge.

All configs are frozen and hashable. Every threshold below was chosen by measurement
(`experiments/calibrate_rewards.py`, procedure and numbers in docs/rewards.md); rerun the script
on a new world or a new encoder and pass the printed values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

SIGNALS = ("align", "cov", "spec", "div", "struct")
NORMALISATIONS = ("fixed", "batch")
JUDGES = ("rubric", "llm")

# Raw value every signal takes for an invalid output (R_struct = 0) or an undefined case
# (no queries, a user without behaviours). All raw signals are >= 0 (R_align is clipped at 0),
# so the floor is the lowest value any output can get.
FLOOR = 0.0

# lambda_m of eq. 9 (the paper gives no values). Coverage weighs 8, the other four 1. Over a
# tiny-2m SFT policy's sampled lists on the held-out validation window, coverage is the only
# signal whose within-user variation tracks Recall@10 (correlation .31; the other four within
# +-.05), and the composite's within-user correlation grows with coverage's weight (.081, .116,
# .154, .188 at 1, 2, 4, 8; coverage alone .307). 8 keeps the other four in the reward. At
# equal weights 300 GRPO iterations raised the reward and lowered sampled test Recall@10
# (.079 -> .071); at these weights it rose to .124. Measured by experiments/calibrate_weights.py;
# docs/rewards.md, "Weights".
DEFAULT_WEIGHTS = (("align", 1.0), ("cov", 8.0), ("spec", 1.0), ("div", 1.0), ("struct", 1.0))

# "fixed" normalisation: raw [lo, hi] -> [0, 1], clipped. cov, spec and struct are already
# fractions. R_div is a mean cosine distance (range [0, 2]); MiniLM's unrelated texts sit near
# 1 and anti-correlated ones are rare, so [0, 1] keeps its scale. R_align's [lo, hi]: see
# docs/rewards.md ("Normalisation"), measured by experiments/calibrate_rewards.py.
DEFAULT_RANGES = (
    ("align", (0.4, 0.86)),
    ("cov", (0.0, 1.0)),
    ("spec", (0.0, 1.0)),
    ("div", (0.0, 1.0)),
    ("struct", (0.0, 1.0)),
)


@dataclass(frozen=True)
class RubricConfig:
    """The offline judge of R_cov and R_spec.

    theme_merge: average-linkage clustering of a user's behaviour embeddings stops when no two
      clusters have a mean pairwise cosine similarity >= this;
    theme_min_share / theme_min_events: a cluster is a *major* theme when it holds at least this
      share of the user's behaviours and this many events; max_themes keeps the heaviest;
    cov_threshold: a query covers a theme when the theme is its most similar one and the cosine
      to the theme's centroid is >= this;
    spec_min_idf: a query is specific when the summed relative IDF, ln(N/df) / ln(N) over the
      N training-window articles, of its distinct content terms is >= this; spec_min_df: a term
      seen in fewer articles is not a content term (typos and made-up strings do not make a
      query specific).
    """

    theme_merge: float = 0.3
    theme_min_share: float = 0.08
    theme_min_events: int = 2
    max_themes: int = 8
    cov_threshold: float = 0.5
    spec_min_idf: float = 0.55
    spec_min_df: int = 2


@dataclass(frozen=True)
class LLMJudgeConfig:
    """An OpenAI-compatible /v1/chat/completions judge (Appendix A prompt).

    url: the server's base URL (".../v1" or the full ".../chat/completions" path);
    concurrency: requests in flight at once; timeout: seconds per HTTP attempt (connect and each
    read); retries: extra attempts after a transport error, a 5xx or a 429, with exponential
    backoff (backoff * 2**attempt seconds); cache_path: SQLite file of answers keyed by
    (model, prompt), None = no cache; api_key_env: name of an environment variable holding a
    bearer token, if the server wants one.
    """

    url: str = "http://127.0.0.1:8000/v1"
    model: str = "judge"
    concurrency: int = 8
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5
    temperature: float = 0.0
    max_tokens: int = 1024
    cache_path: str | None = None
    api_key_env: str | None = None


@dataclass(frozen=True)
class RewardConfig:
    """The composite reward R = sum_m weight_m * normalise(R_m) (paper eq. 9).

    weights: (signal, lambda) pairs (DEFAULT_WEIGHTS: coverage 8, the others 1); a weight of 0
      switches a signal off (Table 5 ablations);
    normalise: "fixed" (documented ranges, the default) or "batch" (z-score over the scored
    batch); k: articles retrieved per query for R_align (the paper's K = 10); n_queries: the
    list length the prompt asks for (R_struct requires exactly this many; None = 1..max_queries).
    """

    weights: tuple[tuple[str, float], ...] = DEFAULT_WEIGHTS
    normalise: str = "fixed"
    ranges: tuple[tuple[str, tuple[float, float]], ...] = DEFAULT_RANGES
    k: int = 10
    n_queries: int | None = 5
    max_queries: int = 10
    judge: str = "rubric"
    rubric: RubricConfig = RubricConfig()
    llm: LLMJudgeConfig = LLMJudgeConfig()
    index_kind: str = "ivfpq"
    # embeddings of non-title texts (behaviours, queries) kept across batches (LRU, ~1.5 KB
    # each), 0 = off
    text_cache_size: int = 100_000
    # users whose behaviour view and themes are kept (LRU, <= ~20 KB each: docs/rewards.md);
    # an evicted user's state is recomputed on their next batch, 0 = keep none
    user_cache_size: int = 10_000
    batch_std_floor: float = 1e-3  # "batch": a signal constant over the batch normalises to 0

    def __post_init__(self):
        w = dict(self.weights)
        bad = set(w) - set(SIGNALS)
        if bad or len(w) != len(self.weights):
            raise ValueError(f"weights: unknown or repeated signals {sorted(bad)}; use {SIGNALS}")
        for s, v in w.items():
            if not (isinstance(v, int | float) and v >= 0):
                raise ValueError(f"weight of {s} must be a number >= 0, got {v!r}")
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}")
        if self.judge not in JUDGES:
            raise ValueError(f"judge must be one of {JUDGES}, got {self.judge!r}")
        r = dict(self.ranges)
        if set(r) != set(SIGNALS) or any(not hi > lo for lo, hi in r.values()):
            raise ValueError(f"ranges must give lo < hi for each of {SIGNALS}, got {r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an int >= 1, got {self.k!r}")
        for name in ("text_cache_size", "user_cache_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if self.n_queries is not None and not 1 <= self.n_queries <= self.max_queries:
            raise ValueError(f"n_queries must be in [1, {self.max_queries}] or None")

    def weight(self, signal: str) -> float:
        return float(dict(self.weights).get(signal, 0.0))

    def range(self, signal: str) -> tuple[float, float]:
        return dict(self.ranges)[signal]


def parse_weights(spec: str, base: RewardConfig | None = None) -> tuple[tuple[str, float], ...]:
    """ "align=1,cov=2,div=0" -> weights tuple; signals not named keep `base`'s weight."""
    w = dict((base or RewardConfig()).weights)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or name not in SIGNALS:
            raise ValueError(f"--weights item {part!r}: expected NAME=VALUE with NAME in {SIGNALS}")
        try:
            w[name] = float(value)
        except ValueError as err:
            raise ValueError(f"--weights item {part!r}: {value!r} is not a number") from err
    return tuple((s, w.get(s, 0.0)) for s in SIGNALS)


def replace(cfg, **changes):
    """dataclasses.replace that ignores None values (CLI flags left unset)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})
