"""Wording of behaviour noise: every kind said several ways, in words no other way shares.

A noise kind (login, utility, transactional, ...) is written by several *phrasing families*.
Each family covers the kind's intents (a login: "facebook login"; a password reset; an online
banking portal) in its own words: "log in" / "sign in" / "online banking, member portal" /
"forgot password" are four families of login, each with its own brands. Within one kind no two
families share a content word (function words and URL boilerplate aside, see STOPWORDS), so a
classifier that never saw a family in training meets a string whose *meaning* it was taught
and whose words it was not. `clean/splits.py`'s template-disjoint split holds out whole
families; tests/test_noise_vocab.py checks the word-disjointness.

Slots: {c} a city, {cs} its URL slug; in entity pages {E} the entity's name, {Es} its slug,
{En} its name without separators, {S} a news site of its category, {Cs} the category's slug;
in daily titles {d} a date ("November 12") and {c} a city.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Family:
    """One way of phrasing a noise kind. search: queries; ent: words next to one of the user's
    entity names in a query ("<name> <words>" or "<words> <name>"); browse: (title, url) pages;
    ent_browse: (title, url) pages about an entity."""

    search: tuple[str, ...] = ()
    ent: tuple[str, ...] = ()
    browse: tuple[tuple[str, str], ...] = ()
    ent_browse: tuple[tuple[str, str], ...] = ()


FAMILIES: dict[str, tuple[Family, ...]] = {
    "navigational": (
        Family(
            search=("google", "google.com", "youtube", "youtube.com", "espn", "craigslist"),
            ent=("official site", "official website"),
            browse=(("Google", "https://www.google.com/"), ("YouTube", "https://www.youtube.com/")),
            ent_browse=(("{E} | Official Site", "https://www.{En}.com/"),),
        ),
        Family(
            search=("facebook", "facebook.com", "instagram", "twitter", "tiktok", "reddit"),
            ent=("homepage", "home page"),
            browse=(("Pinterest", "https://www.pinterest.com/"),),
            ent_browse=(("{E} home page", "https://{En}.com/home"),),
        ),
        Family(
            search=("amazon", "www.amazon.com", "ebay", "walmart", "etsy", "zillow"),
            ent=("app download", "mobile app"),
            browse=(("Amazon.com. Spend less. Smile more.", "https://www.amazon.com/"),),
            ent_browse=(("{E} on the App Store", "https://apps.apple.com/us/app/{Es}/id0000"),),
        ),
        Family(
            search=("netflix", "spotify", "hulu", "wikipedia", "linkedin", "yahoo mail", "hotmail"),
            ent=("careers", "jobs"),
            browse=(
                ("Wikipedia, the free encyclopedia", "https://en.wikipedia.org/"),
                ("Yahoo", "https://www.yahoo.com/"),
            ),
            ent_browse=(("Careers at {E} | Join our team", "https://careers.{En}.com/jobs"),),
        ),
    ),
    "login": (
        Family(
            search=(
                "facebook login",
                "gmail login",
                "outlook login",
                "paypal login",
                "instagram login",
                "verizon log in",
                "discover log in",
            ),  # fmt: skip
            ent=("login", "log in", "login page"),
            browse=(
                ("Log into Facebook", "https://www.facebook.com/login/"),
                ("PayPal Login", "https://www.paypal.com/login"),
            ),
            ent_browse=(
                ("{E} login", "https://www.{En}.com/login"),
                ("Log in to {S} to follow {E}", "https://www.{S}/login?next={Es}"),
            ),
        ),
        Family(
            search=(
                "bank of america sign in",
                "amazon sign in",
                "icloud sign in",
                "xfinity sign on",
                "hulu sign in",
                "target sign in",
            ),  # fmt: skip
            ent=("sign in", "sign on"),
            browse=(
                ("Sign in - Google Accounts", "https://accounts.google.com/signin"),
                ("Amazon Sign-In", "https://www.amazon.com/ap/signin"),
            ),
            ent_browse=(
                ("Sign in to your {E} profile", "https://signin.{En}.com/"),
                ("Sign in to {S}", "https://www.{S}/signin?redirect={Es}"),
            ),
        ),
        Family(
            search=(
                "chase online banking",
                "wells fargo online access",
                "citi online",
                "capital one online banking",
                "usaa member portal",
                "spectrum customer portal",
            ),  # fmt: skip
            ent=("online banking", "member portal", "portal"),
            browse=(
                ("Online Banking | Chase", "https://secure.chase.com/web/auth/dashboard"),
                ("Wells Fargo Online Access", "https://connect.secure.wellsfargo.com/auth/"),
            ),
            ent_browse=(
                ("{E} member portal", "https://portal.{En}.com/"),
                ("{E} subscriber access | {S}", "https://www.{S}/subscriber/portal?ref={Es}"),
            ),
        ),
        Family(
            search=(
                "forgot apple id password",
                "reset netflix password",
                "yahoo password recovery",
                "change spotify password",
                "tiktok verification code",
            ),  # fmt: skip
            ent=("password reset", "forgot password"),
            browse=(
                ("Reset your password | Apple ID", "https://iforgot.apple.com/password/verify"),
                ("Forgot your password? | Netflix", "https://www.netflix.com/password"),
            ),
            ent_browse=(
                ("Reset your {E} password", "https://{En}.com/password/reset"),
                ("Recover your {S} password | {E} alerts", "https://www.{S}/password?t={Es}"),
            ),
        ),
    ),
    "utility": (
        Family(
            search=(
                "weather",
                "weather today",
                "weather tomorrow",
                "weather {c}",
                "{c} weather 10 day",
                "usps tracking",
                "ups tracking",
                "calculator",
                "google translate",
                "timer 10 minutes",
                "stopwatch",
            ),  # fmt: skip
            ent=("customer service",),
            browse=(
                ("Google Translate", "https://translate.google.com/"),
                ("USPS Tracking Results", "https://tools.usps.com/go/TrackConfirmAction"),
                ("Calculator", "https://www.calculator.net/"),
                ("{c} weather today | stormtracker.com", "https://stormtracker.com/weather/{cs}"),
            ),
            ent_browse=(
                (
                    "{E} customer service | {S}",
                    "https://www.{S}/help/{Es}-customer-service",
                ),
            ),
        ),
        Family(
            search=(
                "forecast",
                "{c} forecast",
                "{c} hourly forecast",
                "rain radar",
                "where is my package",
                "fedex package status",
                "convert usd to eur",
                "convert cups to grams",
                "english to spanish",
                "countdown clock",
            ),  # fmt: skip
            ent=("phone number", "contact number"),
            browse=(
                ("FedEx package status", "https://www.fedex.com/en-us/status.html"),
                ("Currency converter | XE", "https://www.xe.com/currencyconverter/"),
                (
                    "{c} hourly forecast | climatecentral.net",
                    "https://climatecentral.net/forecast/{cs}",
                ),
            ),
            ent_browse=(
                ("Phone number and contact for {E} | {S}", "https://www.{S}/contact/{Es}"),
            ),
        ),
        Family(
            search=(
                "what time is it",
                "time in {c}",
                "{c} local time",
                "{c} zip code",
                "{c} area code",
                "maps",
                "directions",
                "driving directions to {c}",
                "speed test",
                "wifi speed",
            ),  # fmt: skip
            ent=("opening hours", "hours"),
            browse=(
                ("Internet Speed Test | Fast.com", "https://fast.com/"),
                ("Directions | MapQuest", "https://www.mapquest.com/directions"),
                ("Local time in {c}", "https://www.timeanddate.com/worldclock/{cs}"),
            ),
            ent_browse=(
                (
                    "{E} opening hours and locations | {S}",
                    "https://www.{S}/local/{Es}-hours",
                ),
            ),
        ),
        Family(
            search=(
                "spell check",
                "{c} traffic",
                "{c} road conditions",
                "dictionary",
                "synonym for happy",
                "ounces to pounds",
                "celsius to fahrenheit",
            ),  # fmt: skip
            ent=("address", "mailing address"),
            browse=(
                ("Merriam-Webster Dictionary", "https://www.merriam-webster.com/"),
                ("Thesaurus.com", "https://www.thesaurus.com/"),
                ("{c} traffic cameras and road conditions", "https://www.roadwatch.net/{cs}"),
            ),
            ent_browse=(
                ("Mailing address of {E} | {S}", "https://www.{S}/directory/{Es}-address"),
            ),
        ),
    ),
    "transactional": (
        Family(
            search=(
                "cheap flights",
                "cheap flights to {c}",
                "black friday deals",
                "buy iphone case",
            ),
            ent=("tickets", "cheap tickets", "buy tickets"),
            browse=(
                ("Shopping Cart | Walmart.com", "https://www.walmart.com/cart"),
                ("Cheap flights to {c} | FlyFinder", "https://www.flyfinder.com/flights/{cs}"),
            ),
            ent_browse=(
                ("{E} Tickets | Ticketmaster", "https://www.ticketmaster.com/{Es}-tickets"),
                ("{E} tickets, schedule and prices | {S}", "https://www.{S}/{Cs}/{Es}/tickets"),
            ),
        ),
        Family(
            search=(
                "hotels in {c}",
                "{c} hotel booking",
                "pizza delivery near me",
                "restaurants near me",
            ),  # fmt: skip
            ent=("seats", "presale", "box office"),
            browse=(
                ("Your Orders", "https://www.amazon.com/gp/your-account/order-history"),
                ("Hotels in {c} - book a room", "https://www.hotelfinder.com/{cs}"),
            ),
            ent_browse=(
                ("{E} seats and presale | StubHub", "https://www.stubhub.com/{Es}-seats"),
                ("Box office: {E} seating | {S}", "https://www.{S}/{Cs}/{Es}/box-office"),
            ),
        ),
        Family(
            search=("coupon codes", "prime day discount", "groupon", "rebate form"),
            ent=("promo code", "coupon", "discount code"),
            browse=(("Checkout", "https://www.ebay.com/checkout"),),
            ent_browse=(
                (
                    "{E} promo codes and coupons | RetailMeNot",
                    "https://www.retailmenot.com/view/{En}.com",
                ),
                ("Save on {E}: discount codes | {S}", "https://www.{S}/savings/{Es}"),
            ),
        ),
        Family(
            search=("sneakers sale", "groceries online", "gift cards", "used cars for sale"),
            ent=("jersey", "gift card", "merchandise", "shop"),
            browse=(("Add to Basket | Target", "https://www.target.com/basket"),),
            ent_browse=(
                ("Shop official {E} gear | FanShop", "https://shop.fanstore.com/{Es}"),
                ("{E} gift cards | {S}", "https://www.{S}/shop/{Es}-gift-card"),
            ),
        ),
    ),
    "generic": (
        Family(
            browse=(
                ("Inbox - Gmail", "https://mail.google.com/mail/u/0/#inbox"),
                ("New Tab", "chrome://newtab/"),
                ("Home / X", "https://x.com/home"),
            )
        ),
        Family(
            browse=(
                ("Netflix", "https://www.netflix.com/browse"),
                ("Reddit - Dive into anything", "https://www.reddit.com/"),
                ("Instagram", "https://www.instagram.com/"),
            )
        ),
        Family(
            browse=(
                ("LinkedIn Feed", "https://www.linkedin.com/feed/"),
                ("Outlook", "https://outlook.live.com/owa/"),
                ("Twitch", "https://www.twitch.tv/"),
            )
        ),
        Family(
            browse=(
                ("Prime Video", "https://www.primevideo.com/storefront"),
                ("Discord", "https://discord.com/channels/@me"),
                ("WhatsApp Web", "https://web.whatsapp.com/"),
            )
        ),
    ),
    # a visit whose title is only the host
    "url_only": tuple(
        Family(browse=tuple((h, f"https://{h}/") for h in hosts))
        for hosts in (
            ("www.google.com", "mail.google.com", "translate.google.com"),
            ("www.facebook.com", "www.instagram.com", "x.com"),
            ("www.amazon.com", "www.walmart.com", "www.ebay.com"),
            ("www.netflix.com", "www.reddit.com", "www.linkedin.com"),
        )
    ),
}

# Daily utility articles (clicks labelled `daily`): one family per service, its own words.
DAILY: tuple[tuple[str, ...], ...] = (
    (
        "Horoscope for {d}: what the stars hold for every sign",
        "Your {d} horoscope: love, money and career by zodiac sign",
        "Astrology reading for {d}: the moon and your sign",
    ),
    (
        "Lottery winning numbers for {d}",
        "Inside the {d} lottery draw: winning numbers and payouts",
        "Powerball and Mega Millions results for {d}",
    ),
    (
        "Daily crossword answers for {d}",
        "Word puzzle hints and answer for {d}",
        "Sudoku and word game solutions for {d}",
    ),
    (
        "Weather today: {c} forecast for {d}",
        "Traffic and transit updates for {d}",
        "Five things to know about {d} road closures in {c}",
        "{c} weather latest: what to expect on {d}",
        "What's open and closed on {d}: store hours update",
        "Gas prices today in {c}: cheapest stations for {d}",
    ),
)

# Phone numbers and random strings have no vocabulary: a family is a shape.
PHONE_FORMATS = ("({3}) {3}-{4}", "1-800-{3}-{4}", "{3}-{3}-{4}", "+44 {4} {6}")
RANDOM_SHAPES = ("mash", "keyboard")

# Words a family may share with another: function words, URL boilerplate, digits.
STOPWORDS = frozenset(
    "a an the to of in on for and or at by is it its my your you what s with from every "
    "www com net org html https http".split()
)
_SLOT = re.compile(r"\{\w+\}")
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> set[str]:
    """Content words of a string or template (slots removed, lower case, letters only)."""
    return set(_WORD.findall(_SLOT.sub(" ", text).lower())) - STOPWORDS


def family_words(kind: str, family: int) -> set[str]:
    """Content words of every literal a family writes (queries, titles, URLs; not slot fills)."""
    if kind == "daily":
        return set().union(*(words(t) for t in DAILY[family]))
    f = FAMILIES[kind][family]
    parts = list(f.search) + list(f.ent) + [x for page in f.browse + f.ent_browse for x in page]
    return set().union(*(words(p) for p in parts))


def n_families(kind: str) -> int:
    if kind == "daily":
        return len(DAILY)
    if kind == "phone":
        return len(PHONE_FORMATS)
    if kind == "random":
        return len(RANDOM_SHAPES)
    return len(FAMILIES[kind])
