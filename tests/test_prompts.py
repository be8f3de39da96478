"""Prompt rendering (grouping, recency, token budget, templates) and the answer parser."""

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from jaxinterest.data.answer import format_queries, parse_queries
from jaxinterest.data.prompts import PromptConfig, render_prompt
from jaxinterest.tokenizer import tiny_tokenizer

WORDS = (
    "nvidia earnings chips ai hurricane florida forecast lakers trade rumors weather "
    "login facebook youtube election polls senate vote budget"
).split()


@pytest.fixture(scope="module")
def plain_tok():
    """A small BPE without a chat template (the 'tiny tokenizer' case), built here."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [" ".join(WORDS)] * 5 + ["Search queries: Web pages visited News articles read"] * 5
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["[UNK]", "[PAD]"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


@pytest.fixture(scope="module")
def chat_tok():
    return tiny_tokenizer()


def _events(n=60, seed=0):
    rng = np.random.default_rng(seed)
    dom = rng.choice(["search", "browse", "click"], size=n).tolist()
    ts = rng.permutation(np.arange(1_000, 1_000 + 100 * n, 100)).tolist()
    text = [f"{d} {WORDS[i % len(WORDS)]} item{i}" for i, d in enumerate(dom)]
    url = [f"https://www.site{i}.com/page" if d == "browse" else None for i, d in enumerate(dom)]
    return dom, text, url, ts


def _shown(text, marker):
    return [
        ln[2:].split(" (")[0]
        for ln in text.split(marker, 1)[1].split("\n\n")[0].splitlines()
        if ln.startswith("- ")
    ]


@pytest.mark.parametrize("tok_name", ["plain_tok", "chat_tok"])
def test_grouped_most_recent_first_and_complete(request, tok_name):
    tok = request.getfixturevalue(tok_name)
    dom, text, url, ts = _events()
    p = render_prompt(dom, text, url, ts, tok, PromptConfig(max_prompt_tokens=100_000))
    body = p.text
    assert (
        body.index("Search queries:")
        < body.index("Web pages visited:")
        < body.index("News articles read:")
    )
    for d, marker in (
        ("search", "Search queries:"),
        ("browse", "Web pages visited:"),
        ("click", "News articles read:"),
    ):
        expect = [
            t for _, t in sorted(((-s, t) for x, t, s in zip(dom, text, ts, strict=True) if x == d))
        ]
        assert _shown(body, marker) == expect
    assert p.n_events == {d: dom.count(d) for d in ("search", "browse", "click")}
    assert p.token_ids == tok(p.text, add_special_tokens=False)["input_ids"]
    assert "site" in body and "(site" in body  # browse lines carry their host


def test_chat_template_and_plain_layout(plain_tok, chat_tok):
    dom, text, url, ts = _events(10)
    p = render_prompt(dom, text, url, ts, chat_tok, PromptConfig())
    ref = chat_tok.apply_chat_template(list(p.messages), tokenize=False, add_generation_prompt=True)
    assert p.text == ref and p.text.startswith("<|im_start|>system")
    q = render_prompt(dom, text, url, ts, plain_tok, PromptConfig())
    assert q.text.startswith("### System\n") and q.text.endswith("### Answer\n")
    assert "JSON array of 5 strings" in q.messages[1]["content"]


@pytest.mark.parametrize("budget", [260, 320, 400, 600])
@pytest.mark.parametrize("tok_name", ["plain_tok", "chat_tok"])
def test_token_budget_keeps_newest_of_each_domain(request, tok_name, budget):
    tok = request.getfixturevalue(tok_name)
    dom, text, url, ts = _events(200, seed=1)
    try:
        p = render_prompt(dom, text, url, ts, tok, PromptConfig(max_prompt_tokens=budget))
    except ValueError as err:  # the template alone exceeds this budget
        assert "smaller than the prompt template" in str(err)
        return
    assert len(p.token_ids) <= budget
    assert len(tok(p.text, add_special_tokens=False)["input_ids"]) == len(p.token_ids)
    for d, marker in (
        ("search", "Search queries:"),
        ("browse", "Web pages visited:"),
        ("click", "News articles read:"),
    ):
        newest = [
            t for _, t in sorted((-s, t) for x, t, s in zip(dom, text, ts, strict=True) if x == d)
        ]
        shown = [s for s in _shown(p.text, marker) if s != "(none)"]
        assert shown == newest[: len(shown)]  # a prefix of the newest, in order
    counts = sorted(p.n_events.values())
    assert counts[-1] - counts[0] <= 2 or sum(counts) == 200  # round robin keeps domains level
    bigger = render_prompt(dom, text, url, ts, tok, PromptConfig(max_prompt_tokens=budget + 200))
    assert sum(bigger.n_events.values()) > sum(p.n_events.values())


def test_budget_below_template_raises(plain_tok):
    with pytest.raises(ValueError, match="smaller than the prompt template"):
        render_prompt(*_events(5), plain_tok, PromptConfig(max_prompt_tokens=10))


@pytest.mark.parametrize(
    "qs",
    [
        ["nvidia earnings q4", "hurricane season florida"],
        ['quote " and \\ backslash', "ünïcödé 東京 news", "x"],
        [f"query {i}" for i in range(10)],
    ],
)
def test_format_parse_round_trip(qs):
    r = parse_queries(format_queries(qs), n_max=10, n_exact=len(qs))
    assert (r.queries, r.valid, r.reason) == (tuple(qs), True, "ok")


@pytest.mark.parametrize(
    "text,queries,reason",
    [
        ('["a b", "c d"', ("a b", "c d"), "truncated JSON array"),
        ('["a b", "c d', ("a b",), "truncated JSON array"),
        ('```json\n["a b", "c d"]\n```', ("a b", "c d"), "code fence"),
        ('Sure! Here you go: ["a b", "c d"] Hope it helps.', ("a b", "c d"), "text around"),
        ('["a b", "A  B"]', ("a b",), "duplicate query"),
        ('["a b", ""]', ("a b",), "empty query"),
        ('["a b", 3, null, ["x"]]', ("a b",), "non-string item"),
        ("[]", (), "empty array"),
        ('{"queries": ["a"]}', ("a",), "text around"),
        ('"just a string"', (), "not an array"),
        ("", (), "empty output"),
        ("x" * 100_000, (), "no JSON array found"),
        ('["' + "y" * 100_000 + '"]', (), "longer than"),
        ("[" * 100_000, (), "truncated JSON array"),
        ('["q1","q2","q3"]', ("q1", "q2"), "more than 2 queries"),
    ],
)
def test_garbage_outputs_are_reported_not_raised(text, queries, reason):
    r = parse_queries(text, n_max=2 if "q3" in text else 10)
    assert not r.valid and r.queries == queries and reason in r.reason, r


def test_non_text_inputs_and_exact_count():
    for x in (None, 3, b"[]", ["a"]):
        r = parse_queries(x)
        assert not r.valid and r.queries == ()
    r = parse_queries('["a", "b"]', n_exact=3)
    assert not r.valid and "2 items, expected 3" in r.reason and r.queries == ("a", "b")


def _reference_valid(text, n_max=5, max_chars=120):
    """Independent statement of the format: a bare JSON array of distinct, non-empty strings."""
    try:
        data = json.loads(text.strip())
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, list) or not 1 <= len(data) <= n_max:
        return False
    if not all(
        isinstance(q, str) and q.strip() and len(" ".join(q.split())) <= max_chars for q in data
    ):
        return False
    keys = [" ".join(q.split()).lower() for q in data]
    return len(set(keys)) == len(keys)


def test_fuzz_matches_reference_and_never_raises():
    rng = np.random.default_rng(0)
    base = ['["nvidia earnings", "fed rate cut", "lakers trade"]', '["a"]', '[ "x" , "y" ]']
    junk = ['"', "[", "]", ",", "\\", "```", "null", "1", " ", "\n", '"a"', "{", "}", "é", "\x00"]
    for _ in range(3000):
        s = base[rng.integers(len(base))]
        for _ in range(rng.integers(0, 4)):
            op, i = rng.integers(3), int(rng.integers(len(s) + 1))
            if op == 0:
                s = s[:i]
            elif op == 1:
                s = s[:i] + junk[rng.integers(len(junk))] + s[i:]
            else:
                s = s[:i] + s[i + 1 :]
        r = parse_queries(s, n_max=5)
        assert r.valid == _reference_valid(s), (s, r)
        assert all(isinstance(q, str) and q for q in r.queries)


def test_qwen25_chat_template_and_budget():
    from jaxinterest.tokenizer import qwen25_tokenizer

    tok = qwen25_tokenizer()
    dom, text, url, ts = _events(200, seed=2)
    p = render_prompt(dom, text, url, ts, tok, PromptConfig(max_prompt_tokens=512))
    ref = tok.apply_chat_template(list(p.messages), tokenize=False, add_generation_prompt=True)
    assert p.text == ref and p.text.endswith("<|im_start|>assistant\n")
    assert len(p.token_ids) <= 512 and p.token_ids == tok(p.text)["input_ids"]
    assert 0 < sum(p.n_events.values()) < 200
