"""The weak labeller: SFT targets (query lists) from a user's cleaned, shown behaviours alone.

It reads exactly what the prompt shows (`rewards.view.UserView`: the cleaned events the prompt
admitted, each domain newest first) and a behaviour-only statistic, the share of users whose
views contain a phrase. Never oracle/, never test clicks, never the user's future.

1. Candidates: word n-grams (1..max_words) inside one behaviour text, not crossing punctuation
   (" | ", ":", "," ...), neither starting nor ending with a stop word, not made only of generic
   words (platforms, "news", "login", ...); the site part of a visited page's title
   ("... | espn.com") is dropped.
2. Weight of a phrase for the user: sum over the events that contain it of decay**rank (rank:
   the event's recency rank within its domain, 0 = newest), times (1 + domain_bonus) for each
   further domain it appears in (an interest read about AND searched for, or browsed AND
   clicked, is what the paper's cross-domain premise is about), times idf**idf_power with
   idf = ln((U + 1) / (u + 1)) over U users of which u show the phrase (template words that
   every user's pages carry, "full timeline", "discussion thread", weigh nothing).
3. Selection: greedily by weight; a longer phrase containing the pick replaces it when its
   weight is at least `extend_ratio` of the pick's (so "fairbanks foundation" wins over
   "fairbanks"); a phrase overlapping a chosen one (sub- or super-phrase) is skipped; at most
   n_queries phrases. Users with fewer candidates get fewer queries (never padding), and
   `train.examples` leaves their prompts out of SFT (a target must be a valid answer).
4. Pairing ("<entity> <topic>", the form that retrieves a story's next articles): each pick is
   extended by the phrase that shares most of its events (weighted by recency and idf) when
   that phrase occurs in at least `pair_ratio` of the pick's recency-weighted events.

The weights were chosen on validation users (`validation.holdout_world`), never the test week:
`experiments/weak_labels.py` prints the comparison with own-searches and recent-behaviours.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict

from jaxinterest.rewards.specificity import GENERIC_TERMS, STOP_WORDS

_SEGMENT = re.compile(r"\s[|:\-–—]\s|[|:;,.!?()\[\]\"“”]")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# Words of page-title templates and search intents that carry no interest of their own.
_FILLER = frozenset(
    """analysis updates coverage timeline full discussion thread tracker explained guide
    schedule prices tickets follow sign comments review reviews vs""".split()
)


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    n_queries: int = 5
    max_words: int = 3
    decay: float = 0.93  # recency weight per rank within a domain
    domain_bonus: float = 0.5
    idf_power: float = 1.0
    extend_ratio: float = 0.6
    inner_stop_words: bool = False  # allow stop words inside a phrase ("bank of america")
    pair_ratio: float = 0.2  # 0 = off; see `pair`


@dataclasses.dataclass(frozen=True, eq=False)
class PhraseStats:
    """How many of n_users user views contain each phrase (fitted on training users)."""

    n_users: int
    users_with: dict

    def idf(self, phrase: str) -> float:
        return math.log((self.n_users + 1) / (self.users_with.get(phrase, 0) + 1))


def _words(segment: str) -> list[str]:
    return [w.removesuffix("'s") for w in _WORD.findall(segment.lower())]


def phrases(text: str, domain: str, max_words: int, inner_stop_words: bool = False) -> set[str]:
    """Candidate phrases of one behaviour text (see the module docstring, step 1)."""
    if domain == "browse" and " | " in text:
        text = text.rsplit(" | ", 1)[0]  # "<title> | <site>": the site is not an interest
    out = set()
    for seg in _SEGMENT.split(text):
        words = _words(seg)
        for n in range(1, max_words + 1):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if gram[0] in STOP_WORDS or gram[-1] in STOP_WORDS:
                    continue
                if not inner_stop_words and any(w in STOP_WORDS for w in gram):
                    continue
                if all(w in GENERIC_TERMS or w in _FILLER or w.isdigit() for w in gram):
                    continue
                out.add(" ".join(gram))
    return out


def view_phrases(view, cfg: LabelConfig) -> list[tuple[str, int, set[str]]]:
    """(domain, recency rank within the domain, phrases) per shown event of a UserView."""
    rank: Counter = Counter()
    out = []
    for d, t in zip(view.domains, view.texts, strict=True):
        out.append((d, rank[d], phrases(t, d, cfg.max_words, cfg.inner_stop_words)))
        rank[d] += 1
    return out


def fit_stats(views, cfg: LabelConfig = LabelConfig()) -> PhraseStats:
    """User-level phrase frequencies over the given views (the training users')."""
    users_with: Counter = Counter()
    n = 0
    for v in views:
        seen = set()
        for _, _, ps in view_phrases(v, cfg):
            seen |= ps
        users_with.update(seen)
        n += 1
    return PhraseStats(n, dict(users_with))


def phrase_weights(view, stats: PhraseStats, cfg: LabelConfig) -> dict[str, float]:
    """phrase -> weight for one user (module docstring, step 2)."""
    mass: defaultdict[str, float] = defaultdict(float)
    domains: defaultdict[str, set] = defaultdict(set)
    for d, rank, ps in view_phrases(view, cfg):
        w = cfg.decay**rank
        for p in ps:
            mass[p] += w
            domains[p].add(d)
    return {
        p: m * (1 + cfg.domain_bonus * (len(domains[p]) - 1)) * stats.idf(p) ** cfg.idf_power
        for p, m in mass.items()
    }


def _overlaps(a: str, b: str) -> bool:
    return f" {a} " in f" {b} " or f" {b} " in f" {a} "


def label(view, stats: PhraseStats, cfg: LabelConfig = LabelConfig()) -> list[str]:
    """The user's weak query list: up to n_queries phrases (module docstring, steps 3-4). A
    pick whose paired query repeats a chosen one (the same words) is passed over and the next
    candidate tried, so a user with enough candidates always gets n_queries queries: the
    answer format asks for exactly n, and a shorter target would teach an invalid answer."""
    weights = phrase_weights(view, stats, cfg)
    order = sorted(weights, key=lambda p: (-weights[p], p))
    events = view_phrases(view, cfg) if cfg.pair_ratio > 0 else None
    heads: list[str] = []
    chosen: list[str] = []
    for p in order:
        if len(chosen) == cfg.n_queries:
            break
        if weights[p] <= 0 or any(_overlaps(p, h) for h in heads):
            continue
        while True:  # extend to the best longer phrase that keeps most of the weight
            longer = [q for q in weights if q != p and f" {p} " in f" {q} "]
            best = max(longer, key=lambda q: (weights[q], q), default=None)
            if best is None or weights[best] < cfg.extend_ratio * weights[p]:
                break
            p = best
        if any(_overlaps(p, h) for h in heads):
            continue
        heads.append(p)
        q = pair(p, events, weights, stats, cfg) if events is not None else p
        if all(set(q.split()) != set(c.split()) for c in chosen):  # "a b c" and "c a b": one
            chosen.append(q)
    return chosen


def pair(head: str, events, weights: dict, stats: PhraseStats, cfg: LabelConfig) -> str:
    """head + the phrase sharing most of its events ("<entity> <topic>"), when that phrase's
    co-occurring weight is at least pair_ratio of the head's own weight."""
    words = set(head.split())
    co: defaultdict[str, float] = defaultdict(float)
    own = 0.0
    for _, rank, ps in events:
        if head in ps:
            own += cfg.decay**rank
            for q in ps:
                if not words & set(q.split()):
                    co[q] += cfg.decay**rank
    if not co:
        return head
    best = max(co, key=lambda q: (co[q] * stats.idf(q), q))
    if co[best] < cfg.pair_ratio * own or len(head.split()) + len(best.split()) > cfg.max_words + 1:
        return head
    return f"{head} {best}"
