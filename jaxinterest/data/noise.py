"""Behaviour noise in the style of the paper's Appendix B (labelled 0 = filter).

Navigational ("youtube", "www.amazon.com"), login ("bank login"), utility ("weather today",
"weather miami"), transactional ("cheap flights to denver"), phone numbers, random strings,
URL-only visits and generic browsing. Some noise is hard on purpose: it names the user's own
entities in the very form of their interest events ("<brand> login" beside "<brand> earnings",
"<team> tickets, schedule and prices | <site>" beside "<team> news, analysis and updates |
<site>"), and plain utility pages live on the news sites of real interest categories, so a
classifier has to read the meaning of a behaviour, not its form or a word list.
"""

from __future__ import annotations

import string

import numpy as np
import pyarrow as pa

from jaxinterest.data import vocab
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

_SEARCH_FIXED = {
    "navigational": "google|youtube|facebook|gmail|amazon|netflix|instagram|reddit|twitter|"
    "www.amazon.com|youtube.com|facebook.com|espn|craigslist|wikipedia|yahoo mail|outlook|"
    "hotmail|linkedin|ebay|walmart|zillow|spotify|tiktok",
    "login": "facebook login|bank login|bank of america sign in|facebook sign in|gmail login|"
    "chase online banking login|netflix sign in|outlook login|amazon sign in|paypal login|"
    "instagram login|wells fargo login|verizon login|icloud sign in",
    "utility": "weather|weather today|weather tomorrow|calculator|translate|google translate|"
    "timer 10 minutes|usps tracking|ups tracking|convert usd to eur|what time is it|"
    "speed test|maps|directions|unit converter|spell check|what day is it|stopwatch",
    "transactional": "cheap flights|pizza delivery near me|coupon codes|buy iphone case|"
    "amazon prime day deals|black friday deals|gas station near me|restaurants near me",
}
_SEARCH_CITY = (
    ("weather {c}", "utility"),
    ("{c} weather 10 day", "utility"),
    ("time in {c}", "utility"),
    ("{c} zip code", "utility"),
    ("cheap flights to {c}", "transactional"),
    ("hotels in {c}", "transactional"),
    ("{c} traffic", "utility"),
)
# Hard search noise names one of the user's own entities, often in the very form of an
# interest query ("<brand> earnings" is kept, "<brand> login" is noise): only the meaning of the
# word next to the name tells them apart.
SEARCH_ENT_NOISE = Templates(("{e} {x}", "{e} {x} {z}", "{x} {e}", "{e} {x} {m}"))
# (word, kind): what people search next to a name when they want to do something, not read
SEARCH_ENT_WORDS = (
    ("tickets", "transactional"),
    ("tickets cheap", "transactional"),
    ("jersey", "transactional"),
    ("promo code", "transactional"),
    ("gift card", "transactional"),
    ("store near me", "transactional"),
    ("login", "login"),
    ("sign in", "login"),
    ("account login", "login"),
    ("official site", "navigational"),
    ("app download", "navigational"),
    ("careers", "navigational"),
    ("customer service", "utility"),
    ("phone number", "utility"),
    ("store hours", "utility"),
)
SEARCH_ENT_TAILS = ("today", "online", "near me", "2024")
_BROWSE_FIXED = (
    ("Facebook - log in or sign up", "https://www.facebook.com/", "login"),
    ("Inbox - Gmail", "https://mail.google.com/mail/u/0/#inbox", "generic"),
    ("Google", "https://www.google.com/", "navigational"),
    ("YouTube", "https://www.youtube.com/", "navigational"),
    ("Amazon.com. Spend less. Smile more.", "https://www.amazon.com/", "navigational"),
    ("Netflix", "https://www.netflix.com/browse", "generic"),
    ("New Tab", "chrome://newtab/", "generic"),
    ("Sign in - Google Accounts", "https://accounts.google.com/signin", "login"),
    ("Online Banking Login | Bank of America", "https://secure.bankofamerica.com/login", "login"),
    ("Your Orders", "https://www.amazon.com/gp/your-account/order-history", "transactional"),
    ("Shopping Cart | Walmart.com", "https://www.walmart.com/cart", "transactional"),
    ("Checkout", "https://www.ebay.com/checkout", "transactional"),
    ("Google Translate", "https://translate.google.com/", "utility"),
    ("USPS Tracking Results", "https://tools.usps.com/go/TrackConfirmAction", "utility"),
    ("Calculator", "https://www.calculator.net/", "utility"),
    ("Internet Speed Test", "https://www.speedtest.net/", "utility"),
    ("Reddit - Dive into anything", "https://www.reddit.com/", "generic"),
    ("Home / X", "https://x.com/home", "generic"),
    ("Instagram", "https://www.instagram.com/", "generic"),
    ("LinkedIn Feed", "https://www.linkedin.com/feed/", "generic"),
)
_BROWSE_CITY = (
    (
        "10-day weather forecast for {c} | stormtracker.com",
        "https://stormtracker.com/forecast/{cs}",
    ),
    ("{c} hourly weather | climatecentral.net", "https://climatecentral.net/weather/{cs}"),
    ("Hotels in {c} - compare prices", "https://www.hotelfinder.com/{cs}"),
)
_BROWSE_CITY_KIND = ("utility", "utility", "transactional")
# Hard browse noise: an entity's ticket / login / shop pages, half of them on the same news
# site and in the same "<title> | <site>" form as the user's real reading about that entity.
BROWSE_ENT_NOISE = (
    ("{E} Tickets | Ticketmaster", "https://www.ticketmaster.com/{Es}-tickets", "transactional"),
    ("Sign in to your {E} account", "https://accounts.{En}.com/login", "login"),
    ("Shop official {E} gear | FanShop", "https://shop.fanstore.com/{Es}", "transactional"),
    (
        "{E} tickets, schedule and prices | {S}",
        "https://www.{S}/{Cs}/{Es}/tickets",
        "transactional",
    ),
    ("{E} store hours and locations | {S}", "https://www.{S}/local/{Es}-hours", "utility"),
    ("Sign in to {S} to follow {E}", "https://www.{S}/account/login?next={Es}", "login"),
)
BROWSE_ENT_TITLE = Templates(tuple(t for t, _, _ in BROWSE_ENT_NOISE))
BROWSE_ENT_URL = Templates(tuple(u for _, u, _ in BROWSE_ENT_NOISE))


def _phone(rng) -> str:
    d = lambda k: "".join(str(int(x)) for x in rng.integers(10, size=k))  # noqa: E731
    fmt = int(rng.integers(4))
    return [
        f"({d(3)}) {d(3)}-{d(4)}",
        f"1-800-{d(3)}-{d(4)}",
        f"{d(3)}-{d(3)}-{d(4)}",
        f"+44 {d(4)} {d(6)}",
    ][fmt]


def _mash(rng) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(
        alphabet[int(i)] for i in rng.integers(len(alphabet), size=int(rng.integers(3, 12)))
    )


class NoisePools:
    """Fixed noise strings with kinds and Zipf popularity (a few navigational queries dominate)."""

    def __init__(self, pools: Pools, seed: int, n_generated: int = 400):
        rng = np.random.default_rng([seed, 303])
        s_text, s_kind = [], []
        for kind, items in _SEARCH_FIXED.items():
            for t in items.split("|"):
                s_text.append(t)
                s_kind.append(kind)
        for c in vocab.CITIES:
            for t, kind in _SEARCH_CITY:
                s_text.append(t.format(c=c.lower()))
                s_kind.append(kind)
        for _ in range(n_generated):
            s_text += [_phone(rng), _mash(rng)]
            s_kind += ["phone", "random"]
        self.search_text, self.search_kind = (
            pool(s_text),
            np.asarray([NOISE_KINDS.index(k) for k in s_kind], np.int8),
        )
        self.search_p = _kind_zipf(self.search_kind, SEARCH_SHARES, rng)
        b_title, b_url, b_kind = [], [], []
        for t, u, kind in _BROWSE_FIXED:
            b_title.append(t), b_url.append(u), b_kind.append(kind)
            host = u.split("/")[2]
            b_title.append(host), b_url.append(u), b_kind.append("url_only")
        for c in vocab.CITIES:
            for (t, u), kind in zip(_BROWSE_CITY, _BROWSE_CITY_KIND, strict=True):
                b_title.append(t.format(c=c)), b_url.append(u.format(cs=slug(c)))
                b_kind.append(kind)
        self.browse_title, self.browse_url = pool(b_title), pool(b_url)
        self.browse_kind = np.asarray([NOISE_KINDS.index(k) for k in b_kind], np.int8)
        self.browse_p = _kind_zipf(self.browse_kind, BROWSE_SHARES, rng)
        self.ent_words = pool(w for w, _ in SEARCH_ENT_WORDS)
        self.ent_word_kind = np.asarray([NOISE_KINDS.index(k) for _, k in SEARCH_ENT_WORDS])
        self.ent_tails = pool(SEARCH_ENT_TAILS)
        self.ent_browse_kind = np.asarray([NOISE_KINDS.index(k) for _, _, k in BROWSE_ENT_NOISE])
        self.En = pool(slug(n).replace("-", "") for n in pools.E.to_pylist())


def _kind_zipf(kinds: np.ndarray, shares: dict[str, float], rng) -> np.ndarray:
    """Pool probabilities: a fixed share per noise kind, Zipf-like inside each kind (a few
    navigational queries such as "youtube" dominate, as in real logs)."""
    p = np.zeros(len(kinds))
    for name, share in shares.items():
        idx = np.flatnonzero(kinds == NOISE_KINDS.index(name))
        w = rng.permutation(1.0 / np.arange(1, len(idx) + 1) ** 0.8)
        p[idx] = share * w / w.sum()
    return p / p.sum()


def render_search_noise(np_: NoisePools, pools: Pools, ent: np.ndarray, rng):
    """N noise queries; rows with ent >= 0 use an entity template (hard noise). -> text, kind."""
    n = len(ent)
    pick = rng.choice(len(np_.search_p), size=n, p=np_.search_p)
    text = np_.search_text.take(pa.array(pick))
    kind = np_.search_kind[pick]
    hard = np.flatnonzero(ent >= 0)
    if len(hard):
        h = len(hard)
        word = rng.integers(len(np_.ent_word_kind), size=h)
        v = {
            "e": (pools.e, ent[hard]),
            "x": (np_.ent_words, word),
            "z": (np_.ent_tails, rng.integers(len(SEARCH_ENT_TAILS), size=h)),
            "m": (pools.m, rng.integers(len(pools.m), size=h)),
        }
        text = _scatter(text, hard, SEARCH_ENT_NOISE.render(rng.integers(4, size=h), v))
        kind[hard] = np_.ent_word_kind[word]
    return text, kind


def render_browse_noise(np_: NoisePools, pools: Pools, ent: np.ndarray, rng):
    """N noise page visits -> title, url, kind; ent >= 0 rows are entity-flavoured (hard)."""
    n = len(ent)
    pick = rng.choice(len(np_.browse_p), size=n, p=np_.browse_p)
    title, url = np_.browse_title.take(pa.array(pick)), np_.browse_url.take(pa.array(pick))
    kind = np_.browse_kind[pick]
    hard = np.flatnonzero(ent >= 0)
    if len(hard):
        tid = rng.integers(len(BROWSE_ENT_TITLE), size=len(hard))
        cat = pools.entity_category[ent[hard]]
        v = {
            "E": (pools.E, ent[hard]),
            "Es": (pools.Es, ent[hard]),
            "En": (np_.En, ent[hard]),
            "S": (pools.S, pools.site(cat, rng)),
            "Cs": (pools.Cs, cat),
        }
        title = _scatter(title, hard, BROWSE_ENT_TITLE.render(tid, v))
        url = _scatter(url, hard, BROWSE_ENT_URL.render(tid, v))
        kind[hard] = np_.ent_browse_kind[tid]
    return title, url, kind


def _scatter(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """base with base[rows] = values (vectorised through one take over a concatenation)."""
    idx = np.arange(len(base))
    idx[rows] = len(base) + np.arange(len(rows))
    return pa.concat_arrays([base, values]).take(pa.array(idx))
