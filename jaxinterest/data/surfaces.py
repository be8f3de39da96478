"""Domain-specific surface forms: news titles/abstracts, search queries, page titles + URLs.

Interest-driven text names a sub-topic phrase/keyword and (usually) an entity; each domain has
its own register: news titles are capitalised sentences, queries are short lower-case keyword
strings with occasional typos, browsing is page titles with URLs. All rendering is vectorised
(`textgen.Templates`); inputs are integer arrays of sub-topic/entity ids.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from jaxinterest.data.entities import Space
from jaxinterest.data.textgen import Templates, cap, pool, slug, typo

NEWS_TITLES = Templates(
    (
        "{E} faces mounting pressure over {P}",
        "{E} responds as {K} dominates the {P} debate",
        "What {E}'s latest move means for {P}",
        "{Pc}: {E} and {E2} at odds over {K}",
        "{E} unveils new plan amid {K} concerns",
        "Inside the {P} story: how {E} got here",
        "{Kc} update: {E} says more changes are coming",
        "{E} under scrutiny after surprise {K} news",
        "Why {P} matters for {E} this week",
        "{E} vs. {E2}: the {K} showdown explained",
        "{Pc} latest: {E} makes headlines on {D}",
        "Experts weigh in on {E} and {K}",
        "{E} breaks silence on {K}",
        "{Kc} surge puts {E} in the spotlight",
        "Five things to know about {E} and {P}",
        "{E} expected to announce {K} decision soon, sources say",
    )
)
NEWS_ABSTRACTS = Templates(
    (
        "{E} drew attention on {D} as questions about {K} and {K2} shaped the {P} conversation. "
        "Observers expect {E2} to respond in the coming days.",
        "Analysts following {P} say {E} could feel the biggest impact, while {E2} watches {K} "
        "closely. The {C} story is still developing.",
        "The latest turn in {P} centres on {E}, which faces growing questions about {K}. "
        "Here is what we know so far about {K2}.",
        "Next steps for {E} will depend on {K2} and on how {E2} handles {K}. "
        "Coverage of {P} continues on {D}.",
    )
)
SEARCH_ENT = (
    "{e} {k}",
    "{e} {k} {m}",
    "{k} {e}",
    "{e}",
    "{e} {p}",
    "{e} news",
    "{e} {k}",
    "what happened with {e}",
    "{e} vs {e2}",
    "{p} {e}",
    "{e} {k} {m}",
    "{e} latest {k}",
)
SEARCH_TOPIC = ("{p}", "{p} {m}", "{k} {m}", "{k}", "{k} {p}", "what is {p}", "{k} {k2}")
SEARCH = Templates(SEARCH_ENT + SEARCH_TOPIC)
BROWSE_ENT = (
    ("{E} - Wikipedia", "https://en.wikipedia.org/wiki/{W}"),
    ("{E} news, analysis and updates | {S}", "https://www.{S}/topics/{Es}"),
    ("{E} {K} discussion thread : r/{Cs}", "https://www.reddit.com/r/{Cs}/comments/{Es}-{Ks}"),
    ("{Kc} tracker: {E} latest | {S}", "https://{S}/live/{Es}-{Ks}"),
    ("{E} on {K}: full timeline | {S}", "https://www.{S}/{Cs}/{Es}/timeline"),
    ("{E} and {P}: our coverage | {S}", "https://www.{S}/{Cs}/{Ps}/{Es}"),
)
BROWSE_TOPIC = (
    ("{Pc} explained: what you need to know | {S}", "https://www.{S}/explainers/{Ps}"),
    ("{Kc} and {K2}: a guide to {P} | {S}", "https://{S}/guides/{Ks}"),
    ("{Pc} - Wikipedia", "https://en.wikipedia.org/wiki/{Pw}"),
)
BROWSE_TITLE = Templates(tuple(t for t, _ in BROWSE_ENT + BROWSE_TOPIC))
BROWSE_URL = Templates(tuple(u for _, u in BROWSE_ENT + BROWSE_TOPIC))
MODIFIERS = (
    "latest",
    "news",
    "today",
    "update",
    "2024",
    "explained",
    "live",
    "analysis",
    "results",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Pools:
    """String pools derived from a `Space` (built once per world, a few thousand strings)."""

    def __init__(self, space: Space, seed: int):
        rng = np.random.default_rng([seed, 202])
        names = space.entity_names
        lower = [n.lower().replace(".", "") for n in names]
        self.E = pool(names)
        self.e = pool(lower + [typo(n, rng) for n in lower])  # [2E]: clean, then typo'd
        self.Es = pool(slug(n) for n in names)
        self.W = pool(n.replace(" ", "_") for n in names)
        ph = space.sub_phrase
        self.P, self.Pc, self.Ps = pool(ph), pool(cap(p) for p in ph), pool(slug(p) for p in ph)
        self.Pw = pool(cap(p).replace(" ", "_") for p in ph)
        self.p = pool(list(ph) + [typo(p, rng) for p in ph])
        kws = [k for ks in space.sub_keywords for k in ks]
        self.kw_count = np.asarray([len(ks) for ks in space.sub_keywords], np.int64)
        self.kw_start = np.concatenate([[0], np.cumsum(self.kw_count)[:-1]])
        self.K, self.Kc, self.Ks = pool(kws), pool(cap(k) for k in kws), pool(slug(k) for k in kws)
        self.k = pool(kws + [typo(k, rng) for k in kws])
        self.C, self.Cs = pool(space.category_names), pool(slug(c) for c in space.category_names)
        sites = space.category_sites
        self.site_count = np.asarray([len(s) for s in sites], np.int64)
        self.site_start = np.concatenate([[0], np.cumsum(self.site_count)[:-1]])
        self.S = pool(s for ss in sites for s in ss)
        self.m, self.D = pool(MODIFIERS), pool(DAYS)
        self.n_entities, self.n_sub, self.n_kw = len(names), len(ph), len(kws)
        self.entity_category = space.entity_category

    def keyword(self, sub: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.kw_start[sub] + (rng.random(len(sub)) * self.kw_count[sub]).astype(np.int64)

    def other_keyword(self, sub: np.ndarray, kw: np.ndarray, rng: np.random.Generator):
        """A keyword of the same sub-topic different from kw (sub-topics have >= 2)."""
        c = self.kw_count[sub]
        step = 1 + (rng.random(len(sub)) * (c - 1)).astype(np.int64)
        return self.kw_start[sub] + (kw - self.kw_start[sub] + step) % c

    def site(self, cat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.site_start[cat] + (rng.random(len(cat)) * self.site_count[cat]).astype(np.int64)


def render_news(pools: Pools, space: Space, sub, ent, ent2, day, rng) -> tuple[pa.Array, pa.Array]:
    """Title and abstract of N articles. sub/ent/ent2/day: [N] int arrays."""
    n = len(sub)
    k1 = pools.keyword(sub, rng)
    k2 = pools.other_keyword(sub, k1, rng)
    cat = space.sub_category[sub]
    v = {
        "E": (pools.E, ent),
        "E2": (pools.E, ent2),
        "P": (pools.P, sub),
        "Pc": (pools.Pc, sub),
        "K": (pools.K, k1),
        "K2": (pools.K, k2),
        "Kc": (pools.Kc, k1),
        "D": (pools.D, day % 7),
        "C": (pools.C, cat),
    }
    title = NEWS_TITLES.render(rng.integers(len(NEWS_TITLES), size=n), v)
    abstract = NEWS_ABSTRACTS.render(rng.integers(len(NEWS_ABSTRACTS), size=n), v)
    return title, abstract


def render_search(pools: Pools, sub, ent, ent2, typo_rate: float, rng) -> pa.Array:
    """Queries for N interest events; ent = -1 for topic-only interests."""
    n = len(sub)
    has = ent >= 0
    tid = np.where(
        has,
        rng.integers(len(SEARCH_ENT), size=n),
        len(SEARCH_ENT) + rng.integers(len(SEARCH_TOPIC), size=n),
    )
    t = lambda size: (rng.random(size) < typo_rate).astype(np.int64)  # noqa: E731
    ent, ent2 = np.maximum(ent, 0), np.maximum(ent2, 0)
    v = {
        "e": (pools.e, ent + pools.n_entities * t(n)),
        "e2": (pools.e, ent2),
        "p": (pools.p, sub + pools.n_sub * t(n)),
        "k": (pools.k, pools.keyword(sub, rng) + pools.n_kw * t(n)),
        "k2": (pools.k, pools.keyword(sub, rng)),
        "m": (pools.m, rng.integers(len(MODIFIERS), size=n)),
    }
    return SEARCH.render(tid, v)


def render_browse(pools: Pools, space: Space, sub, ent, rng) -> tuple[pa.Array, pa.Array]:
    """Page title and URL for N interest events; ent = -1 for topic-only interests."""
    n = len(sub)
    has = ent >= 0
    tid = np.where(
        has,
        rng.integers(len(BROWSE_ENT), size=n),
        len(BROWSE_ENT) + rng.integers(len(BROWSE_TOPIC), size=n),
    )
    cat = space.sub_category[sub]
    ent = np.maximum(ent, 0)
    k1 = pools.keyword(sub, rng)
    v = {
        "E": (pools.E, ent),
        "Es": (pools.Es, ent),
        "W": (pools.W, ent),
        "P": (pools.P, sub),
        "Pc": (pools.Pc, sub),
        "Ps": (pools.Ps, sub),
        "Pw": (pools.Pw, sub),
        "K": (pools.K, k1),
        "Kc": (pools.Kc, k1),
        "Ks": (pools.Ks, k1),
        "K2": (pools.K, pools.keyword(sub, rng)),
        "S": (pools.S, pools.site(cat, rng)),
        "Cs": (pools.Cs, cat),
    }
    return BROWSE_TITLE.render(tid, v), BROWSE_URL.render(tid, v)
