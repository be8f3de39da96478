"""Behaviour noise in the style of the paper's Appendix B (labelled 0 = filter).

Navigational ("youtube", "www.amazon.com"), login ("facebook login", "forgot apple id
password"), utility ("weather miami", "where is my package"), transactional ("cheap flights to
denver"), phone numbers, random strings, URL-only visits and generic browsing. Every kind is
written by several phrasing families with disjoint words (`noise_vocab.py`), so a family held
out of training shares its meaning with the training noise and not its words. Some noise is
hard on purpose: it names the user's own entities in the very form of their interest events
("<brand> login" beside "<brand> earnings", "<team> tickets, schedule and prices | <site>"
beside "<team> news, analysis and updates | <site>"), so a classifier has to read the meaning
of a behaviour, not its form or a word list.

Determinism: the renderers make exactly the draws on the caller's generator that the earlier,
single-vocabulary renderer made (so the kept events that follow in the same stream stay
byte-identical); the wording choices the families added come from a second generator.
"""

from __future__ import annotations

import string

import numpy as np
import pyarrow as pa

from jaxinterest.data import vocab
from jaxinterest.data.noise_vocab import FAMILIES, PHONE_FORMATS, RANDOM_SHAPES
from jaxinterest.data.surfaces import Pools
from jaxinterest.data.textgen import Templates, pool, slug

# share of each kind among non-entity noise (entity-flavoured hard noise is drawn separately)
SEARCH_SHARES = {
    "navigational": 0.3,
    "login": 0.15,
    "utility": 0.25,
    "transactional": 0.1,
    "phone": 0.08,
    "random": 0.12,
}
BROWSE_SHARES = {
    "navigational": 0.15,
    "generic": 0.2,
    "login": 0.15,
    "url_only": 0.15,
    "utility": 0.2,
    "transactional": 0.15,
}
# shares of the kinds of hard (entity) noise in searches and in page visits
ENT_SEARCH_SHARES = {"transactional": 0.4, "login": 0.2, "navigational": 0.2, "utility": 0.2}
ENT_BROWSE_SHARES = {"transactional": 0.4, "login": 0.3, "utility": 0.15, "navigational": 0.15}
NOISE_KINDS = (
    "navigational",
    "login",
    "utility",
    "transactional",
    "phone",
    "random",
    "url_only",
    "generic",
    "daily",
)
ENT_SEARCH = Templates(("{e} {x}", "{x} {e}"))
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _phone(fmt: int, rng) -> str:
    out = PHONE_FORMATS[fmt]
    for k in ("{3}", "{4}", "{6}"):
        while k in out:
            out = out.replace(k, "".join(str(int(x)) for x in rng.integers(10, size=int(k[1]))), 1)
    return out


def _mash(shape: int, rng) -> str:
    """A random string: letters and digits ("mash"), or a run along one keyboard row."""
    if RANDOM_SHAPES[shape] == "mash":
        alphabet = string.ascii_lowercase + string.digits
        n = int(rng.integers(3, 12))
        return "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=n))
    row = _KEYBOARD_ROWS[int(rng.integers(len(_KEYBOARD_ROWS)))]
    n = int(rng.integers(4, 10))
    start = int(rng.integers(len(row)))
    return "".join(row[(start + i * int(rng.integers(1, 3))) % len(row)] for i in range(n))


def _expand(s: str, cities: bool) -> list[str]:
    """A family string with {c}/{cs} becomes one string per city."""
    if "{c" not in s:
        return [s]
    return [s.format(c=c if cities else c.lower(), cs=slug(c)) for c in vocab.CITIES]


class NoisePools:
    """Noise strings with their kind, phrasing family and Zipf popularity (a few navigational
    queries dominate), plus the entity-template tables of hard noise."""

    def __init__(self, pools: Pools, seed: int, n_generated: int = 400):
        rng = np.random.default_rng([seed, 303])
        s_text, s_kind, s_fam = [], [], []
        for kind in SEARCH_SHARES:
            for f, fam in enumerate(FAMILIES.get(kind, ())):
                for q in fam.search:
                    for t in _expand(q, cities=False):
                        s_text.append(t), s_kind.append(kind), s_fam.append(f)
        for i in range(n_generated):
            f = i % len(PHONE_FORMATS)
            s_text.append(_phone(f, rng)), s_kind.append("phone"), s_fam.append(f)
            f = i % len(RANDOM_SHAPES)
            s_text.append(_mash(f, rng)), s_kind.append("random"), s_fam.append(f)
        self.search_text = pool(s_text)
        self.search_kind = np.asarray([NOISE_KINDS.index(k) for k in s_kind], np.int8)
        self.search_fam = np.asarray(s_fam, np.int8)
        self.search_cdf = _cdf(_family_zipf(self.search_kind, self.search_fam, SEARCH_SHARES, rng))
        b_title, b_url, b_kind, b_fam = [], [], [], []
        for kind in BROWSE_SHARES:
            for f, fam in enumerate(FAMILIES[kind]):
                for title, url in fam.browse:
                    for t, u in zip(_expand(title, True), _expand(url, True), strict=True):
                        b_title.append(t), b_url.append(u), b_kind.append(kind), b_fam.append(f)
        self.browse_title, self.browse_url = pool(b_title), pool(b_url)
        self.browse_kind = np.asarray([NOISE_KINDS.index(k) for k in b_kind], np.int8)
        self.browse_fam = np.asarray(b_fam, np.int8)
        self.browse_cdf = _cdf(_family_zipf(self.browse_kind, self.browse_fam, BROWSE_SHARES, rng))
        # hard noise: (phrase, kind, family) rows and their sampling probabilities
        rows = [
            (x, k, f)
            for k in ENT_SEARCH_SHARES
            for f, fam in enumerate(FAMILIES[k])
            for x in fam.ent
        ]
        self.ent_words = pool(x for x, _, _ in rows)
        self.ent_kind, self.ent_fam, self.ent_p = _table(rows, ENT_SEARCH_SHARES)
        rows = [
            (page, k, f)
            for k in ENT_BROWSE_SHARES
            for f, fam in enumerate(FAMILIES[k])
            for page in fam.ent_browse
        ]
        self.ent_browse_title = Templates(tuple(p[0] for p, _, _ in rows))
        self.ent_browse_url = Templates(tuple(p[1] for p, _, _ in rows))
        self.ent_browse_kind, self.ent_browse_fam, self.ent_browse_p = _table(
            rows, ENT_BROWSE_SHARES
        )
        self.En = pool(slug(n).replace("-", "") for n in pools.E.to_pylist())


def _table(rows, shares):
    """kind ids, family ids and probabilities of (item, kind, family) rows: a kind's share,
    split evenly over its families, then evenly over the family's items."""
    kind = np.asarray([NOISE_KINDS.index(k) for _, k, _ in rows], np.int8)
    fam = np.asarray([f for _, _, f in rows], np.int8)
    p = np.zeros(len(rows))
    for name, share in shares.items():
        k = NOISE_KINDS.index(name)
        fams = np.unique(fam[kind == k])
        for f in fams:
            m = (kind == k) & (fam == f)
            p[m] = share / len(fams) / m.sum()
    return kind, fam, p / p.sum()


def _family_zipf(kinds, fams, shares: dict[str, float], rng) -> np.ndarray:
    """Pool probabilities: a fixed share per noise kind, split evenly over its phrasing
    families, Zipf-like inside each family (a few queries such as "youtube" dominate)."""
    p = np.zeros(len(kinds))
    for name, share in shares.items():
        k = NOISE_KINDS.index(name)
        fs = np.unique(fams[kinds == k])
        for f in fs:
            idx = np.flatnonzero((kinds == k) & (fams == f))
            w = rng.permutation(1.0 / np.arange(1, len(idx) + 1) ** 0.8)
            p[idx] = share / len(fs) * w / w.sum()
    return p / p.sum()


def _cdf(p: np.ndarray) -> np.ndarray:
    c = np.cumsum(p)
    return c / c[-1]


def render_search_noise(np_: NoisePools, pools: Pools, ent: np.ndarray, rng, nrng):
    """N noise queries; rows with ent >= 0 name that entity (hard noise).
    rng: the caller's stream (the same draws as the single-vocabulary renderer); nrng: the
    wording stream. -> text, kind [N] int8 (index into NOISE_KINDS), family [N] int8."""
    n = len(ent)
    pick = np.searchsorted(np_.search_cdf, rng.random(n), side="right")
    text = np_.search_text.take(pa.array(pick))
    kind, fam = np_.search_kind[pick].copy(), np_.search_fam[pick].copy()
    hard = np.flatnonzero(ent >= 0)
    if len(hard):
        h = len(hard)
        for bound in (15, 4, len(pools.m), 4):  # the earlier renderer's draws, spent
            rng.integers(bound, size=h)
        row = nrng.choice(len(np_.ent_p), size=h, p=np_.ent_p)
        v = {"e": (pools.e, ent[hard]), "x": (np_.ent_words, row)}
        text = _scatter(text, hard, ENT_SEARCH.render(nrng.integers(2, size=h), v))
        kind[hard], fam[hard] = np_.ent_kind[row], np_.ent_fam[row]
    return text, kind, fam


def render_browse_noise(np_: NoisePools, pools: Pools, ent: np.ndarray, rng, nrng):
    """N noise page visits -> title, url, kind, family; ent >= 0 rows are about that entity
    (hard). rng / nrng as in render_search_noise."""
    n = len(ent)
    pick = np.searchsorted(np_.browse_cdf, rng.random(n), side="right")
    title, url = np_.browse_title.take(pa.array(pick)), np_.browse_url.take(pa.array(pick))
    kind, fam = np_.browse_kind[pick].copy(), np_.browse_fam[pick].copy()
    hard = np.flatnonzero(ent >= 0)
    if len(hard):
        h = len(hard)
        rng.integers(6, size=h)  # the earlier renderer's template draw, spent
        cat = pools.entity_category[ent[hard]]
        v = {
            "E": (pools.E, ent[hard]),
            "Es": (pools.Es, ent[hard]),
            "En": (np_.En, ent[hard]),
            "S": (pools.S, pools.site(cat, rng)),
            "Cs": (pools.Cs, cat),
        }
        tid = nrng.choice(len(np_.ent_browse_p), size=h, p=np_.ent_browse_p)
        title = _scatter(title, hard, np_.ent_browse_title.render(tid, v))
        url = _scatter(url, hard, np_.ent_browse_url.render(tid, v))
        kind[hard], fam[hard] = np_.ent_browse_kind[tid], np_.ent_browse_fam[tid]
    return title, url, kind, fam


def _scatter(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """base with base[rows] = values (vectorised through one take over a concatenation)."""
    idx = np.arange(len(base))
    idx[rows] = len(base) + np.arange(len(rows))
    return pa.concat_arrays([base, values]).take(pa.array(idx))
