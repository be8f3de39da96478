"""Seeded tables of the world's structure: categories, sub-topics and named entities.

`build_space(seed, entities_per_category)` returns a `Space` of flat numpy arrays (ids are row
indices) plus the string pools the text generator reads. Entities belong to one category;
popularity inside a category is Zipf-like so some names dominate the news, as in real logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxinterest.data import vocab

HOME_RATE = 0.7  # share of an entity's articles (and interests) on its home sub-topic


@dataclass(frozen=True)
class Space:
    """Flat structure tables. C categories, S sub-topics, E entities."""

    category_names: tuple[str, ...]  # [C]
    category_pop: np.ndarray  # [C] float64, sums to 1
    sub_category: np.ndarray  # [S] int32 category of each sub-topic
    sub_phrase: tuple[str, ...]  # [S] lower-case phrase ("interest rate decision")
    sub_keywords: tuple[tuple[str, ...], ...]  # [S] keywords
    sub_pop: np.ndarray  # [S] float64, sums to 1 within each category
    entity_names: tuple[str, ...]  # [E]
    entity_category: np.ndarray  # [E] int32
    entity_kind: tuple[str, ...]  # [E] person/company/team/place/org/work
    entity_pop: np.ndarray  # [E] float64, sums to 1 within each category
    entity_home: np.ndarray  # [E] int32 the sub-topic an entity is usually in the news for
    category_sites: tuple[tuple[str, ...], ...]  # [C]

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    @property
    def n_subtopics(self) -> int:
        return len(self.sub_phrase)

    @property
    def n_entities(self) -> int:
        return len(self.entity_names)


def _zipf(n: int, a: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf weights over n items in a random order (rank 1 gets the most mass)."""
    w = 1.0 / np.arange(1, n + 1) ** a
    return rng.permutation(w / w.sum())


def _make_name(kind: str, cat: str, rng: np.random.Generator) -> str:
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    if kind == "person":
        first, last = pick(vocab.FIRST_NAMES), pick(vocab.LAST_NAMES)
        if rng.random() < 0.3:  # middle initials widen the name space for big presets
            return f"{first} {chr(65 + int(rng.integers(26)))}. {last}"
        return f"{first} {last}"
    if kind == "team":
        return f"{pick(vocab.CITIES)} {pick(vocab.MASCOTS)}"
    if kind == "company":
        stem = (pick(vocab.BRAND_SYLLABLES) + pick(vocab.BRAND_SYLLABLES)).capitalize()
        return f"{stem} {pick(vocab.COMPANY_SUFFIX.get(cat, ('Group', 'Inc')))}"
    if kind == "org":
        return pick(vocab.ORG_PATTERNS).format(pick(vocab.LAST_NAMES))
    if kind == "work":
        return f"The {pick(vocab.WORK_ADJ)} {pick(vocab.WORK_NOUN)}"
    if kind == "place":
        pool = vocab.COUNTRIES if cat == "world" else vocab.STATES + vocab.CITIES
        return pick(pool)
    raise ValueError(f"unknown entity kind {kind!r}")


def build_space(seed: int, entities_per_category: int) -> Space:
    """Deterministic structure tables for one seed."""
    rng = np.random.default_rng([seed, 101])
    cats = vocab.CATEGORIES
    cat_pop = _zipf(len(cats), 0.7, rng)
    sub_cat, sub_phrase, sub_kw, sub_pop = [], [], [], []
    ent_names, ent_cat, ent_kind, ent_pop = [], [], [], []
    taken: set[str] = set()
    for c, (name, kinds, fixed, _sites, subs) in enumerate(cats):
        sub_cat += [c] * len(subs)
        sub_phrase += [p for p, _ in subs]
        sub_kw += [tuple(k) for _, k in subs]
        sub_pop.append(_zipf(len(subs), 0.6, rng))
        names = [f for f in fixed]
        local = set(names)
        taken.update(names)
        attempts = 0
        while len(names) < entities_per_category and attempts < 50 * entities_per_category:
            attempts += 1
            kind = kinds[len(names) % len(kinds)]
            cand = _make_name(kind, name, rng)
            # places may repeat across categories (Florida is in politics and weather)
            if cand in local or (kind != "place" and cand in taken):
                continue
            names.append(cand)
            local.add(cand)
            taken.add(cand)
        ent_names += names
        ent_cat += [c] * len(names)
        ent_kind += [
            ("fixed" if n in fixed else kinds[i % len(kinds)]) for i, n in enumerate(names)
        ]
        ent_pop.append(_zipf(len(names), 1.0, rng))
    ent_cat_a, sub_cat_a, sub_pop_a = (
        np.asarray(ent_cat, np.int32),
        np.asarray(sub_cat, np.int32),
        np.concatenate(sub_pop),
    )
    home = sample_within(ent_cat_a, sub_pop_a, sub_cat_a, rng.random(len(ent_names)))
    return Space(
        category_names=tuple(c[0] for c in cats),
        category_pop=cat_pop,
        sub_category=np.asarray(sub_cat, np.int32),
        sub_phrase=tuple(sub_phrase),
        sub_keywords=tuple(sub_kw),
        sub_pop=np.concatenate(sub_pop),
        entity_names=tuple(ent_names),
        entity_category=np.asarray(ent_cat, np.int32),
        entity_kind=tuple(ent_kind),
        entity_pop=np.concatenate(ent_pop),
        entity_home=home.astype(np.int32),
        category_sites=tuple(tuple(c[3]) for c in cats),
    )


def with_home(space: Space, sub: np.ndarray, ent: np.ndarray, rate: float, u: np.ndarray):
    """Entities cluster on topics: with prob `rate` an entity's row uses its home sub-topic."""
    return np.where((ent >= 0) & (u < rate), space.entity_home[np.maximum(ent, 0)], sub)


def within_groups(weights: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """weights [I] renormalised to sum to 1 inside each group (owner [I], sorted ascending)."""
    totals = np.bincount(owner, weights=weights)
    return weights / totals[owner]


def sample_within(groups: np.ndarray, pop: np.ndarray, owner: np.ndarray, u: np.ndarray):
    """Vectorised weighted choice of an item inside a group.

    owner: [I] group of each item, sorted ascending; pop: [I] weights summing to 1 per group;
    groups: [n] wanted group per draw; u: [n] uniforms in [0, 1). Returns [n] item indices.
    """
    cum = np.cumsum(pop)
    n_groups = int(owner[-1]) + 1
    edge = np.searchsorted(owner, np.arange(n_groups + 1), side="left")  # [G + 1] group bounds
    starts, ends = edge[groups], edge[groups + 1]
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = cum[ends - 1] - base
    idx = np.searchsorted(cum, base + u * total, side="right")
    return np.clip(idx, starts, ends - 1)
