"""Request validation without a server: what is accepted, normalised, and refused (status and
field named)."""

from __future__ import annotations

import pytest

from jaxinterest.serve import load_served_model
from jaxinterest.serve.protocol import Limits, RequestError, Sampling, parse_chat, parse_completion
from jaxinterest.serve.worker import batch_key


@pytest.fixture(scope="module")
def model():
    return load_served_model(preset="tiny-1m")


LIMITS = Limits(max_prompt_tokens=64, max_tokens=32, max_n=4)


def refused(parse, model, body, status=400):
    with pytest.raises(RequestError) as info:
        parse(body, model, LIMITS)
    assert info.value.status == status, info.value.message
    return info.value


def test_prompt_forms_become_token_ids(model):
    ids = model.encode("hello there")
    for prompt in ("hello there", ["hello there"], ids, [ids]):
        req = parse_completion({"prompt": prompt}, model, LIMITS)
        assert req.prompts == (tuple(ids),)
    req = parse_completion({"prompt": ["a", "b c"], "n": 2, "seed": 5}, model, LIMITS)
    assert len(req.prompts) == 2 and req.sampling.n == 2 and req.seed == 5
    assert req.max_tokens == 16  # OpenAI's default for completions


@pytest.mark.parametrize(
    "body, param",
    [
        ({"prompt": "x", "max_tokens": True}, "max_tokens"),  # a JSON bool is not a number
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),  # 0 only when scoring
        ({"prompt": "x", "n": 5}, "n"),
        ({"prompt": "x", "top_p": 0}, "top_p"),
        ({"prompt": "x", "temperature": -1}, "temperature"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"prompt": "x", "stop": [""]}, "stop"),
        ({"prompt": "x", "logprobs": 21}, "logprobs"),
        ({"prompt": "x", "presence_penalty": 0.5}, "presence_penalty"),
        ({"prompt": "x", "logit_bias": {"5": 1}}, "logit_bias"),
        ({"prompt": "x", "best_of": 3}, "best_of"),
        ({"prompt": "x", "suffix": "y"}, "suffix"),
        ({"prompt": "word " * 80}, "prompt"),
        ({"prompt": [1, 2, 8192]}, "prompt"),
        ({"prompt": {"text": "x"}}, "prompt"),
        ({"prompt": [3], "max_tokens": 0, "echo": True, "n": 2}, "n"),
    ],
)
def test_completion_refusals_name_the_field(model, body, param):
    assert refused(parse_completion, model, body).param == param


def test_scoring_request_allows_zero_tokens(model):
    req = parse_completion(
        {"prompt": [4, 5, 6], "max_tokens": 0, "echo": True, "logprobs": 1}, model, LIMITS
    )
    assert req.scoring_only and req.echo and req.logprobs == 1
    assert batch_key(req.sampling, req.max_tokens) == ("score",)


def test_context_bound(model):
    small = model.cfg.max_position_embeddings
    limits = Limits(max_prompt_tokens=small, max_tokens=small)
    with pytest.raises(RequestError, match="exceed the context"):
        parse_completion({"prompt": "hi", "max_tokens": small}, model, limits)


def test_unknown_model_is_404_and_no_model_means_this_one(model):
    assert refused(parse_completion, model, {"prompt": "x", "model": "other"}, 404).code == (
        "model_not_found"
    )
    assert parse_completion({"prompt": "x", "model": model.name}, model, LIMITS).prompts


def test_chat_renders_the_template_and_defaults_max_tokens(model):
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    req = parse_chat({"messages": messages, "max_completion_tokens": 7}, model, LIMITS)
    want = model.tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert req.prompts == (tuple(model.encode(want)),) and req.max_tokens == 7
    assert parse_chat({"messages": messages}, model, LIMITS).max_tokens == LIMITS.max_tokens
    req = parse_chat({"messages": messages, "logprobs": True, "top_logprobs": 3}, model, LIMITS)
    assert req.logprobs == 3
    assert parse_chat({"messages": messages, "top_logprobs": 3}, model, LIMITS).logprobs is None


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hi",
        [{"role": "robot", "content": "x"}],
        [{"role": "user", "content": 5}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
    ],
)
def test_chat_refusals(model, messages):
    assert refused(parse_chat, model, {"messages": messages}).param == "messages"


def test_greedy_requests_share_a_batch_key():
    a = Sampling(0.0, 0.5, 7, 1)
    b = Sampling(0.0, 1.0, 0, 1)
    assert batch_key(a, 10) == batch_key(b, 16)  # same width bucket
    assert batch_key(Sampling(0.7, 1.0, 0, 1), 10) != batch_key(Sampling(0.8, 1.0, 0, 1), 10)
    assert batch_key(b, 10) != batch_key(Sampling(0.0, 1.0, 0, 2), 10)  # n differs
