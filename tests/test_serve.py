"""The real server in a subprocess on a free loopback port, over real HTTP: outputs equal the
library's `generate` for the same seed, concurrent clients are batched yet independent, bad
requests get 4xx and the server stays up, a client leaving mid-request leaves it up, the
official openai client talks to it, and SIGTERM lets an in-flight request finish."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import transformers

from jaxinterest.models.qwen2 import load_hf
from tests.serve_helpers import export_tiny, forward_logprobs, library_choices, start_server

LP_TOL = 1e-5  # different batch / padding widths reorder float32 sums (see serve/worker.py)
# uvicorn finishes in-flight requests, shuts the app down, then re-raises the signal it caught
GRACEFUL = (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("serve") / "tiny")


@pytest.fixture(scope="module")
def reference(ckpt):
    cfg, params = load_hf(ckpt)
    return cfg, params, transformers.AutoTokenizer.from_pretrained(str(ckpt))


@pytest.fixture(scope="module")
def server(ckpt):
    srv = start_server(
        ckpt, "--max-wait-ms", "50", "--max-body-bytes", "4096", "--max-tokens", "64"
    )
    yield srv
    assert srv.stop() in GRACEFUL, "".join(srv.lines)


def post(server, path, body, **kw):
    return httpx.post(server.url + path, json=body, timeout=120, **kw)


def test_models_and_health(server, ckpt):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    models = httpx.get(server.url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == [ckpt.name]


@pytest.mark.parametrize(
    "options",
    [
        dict(temperature=0.0, n=1),
        dict(temperature=0.9, top_p=0.9, top_k=50, n=3, seed=7),
    ],
    ids=["greedy", "sampled"],
)
def test_completion_equals_library_generate(server, reference, options):
    cfg, params, tok = reference
    prompt = "cheap flights to lisbon in march"
    body = {"prompt": prompt, "max_tokens": 12, "logprobs": 0, **options}
    got = post(server, "/v1/completions", body).json()
    texts, ids, lps, lengths = library_choices(
        cfg, params, tok, tok.encode(prompt), max_tokens=12, **options
    )
    assert [c["text"] for c in got["choices"]] == texts
    assert [c["index"] for c in got["choices"]] == list(range(options["n"]))
    for c, want_ids, want_lp in zip(got["choices"], ids, lps, strict=True):
        assert c["logprobs"]["tokens"] == [tok.decode([t]) for t in want_ids]
        np.testing.assert_allclose(c["logprobs"]["token_logprobs"], want_lp, atol=LP_TOL)
    assert got["usage"]["completion_tokens"] == sum(lengths)


def test_chat_completion_equals_library_generate(server, reference):
    cfg, params, tok = reference
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "news about the champions league"},
    ]
    body = {"messages": messages, "max_tokens": 10, "temperature": 1.0, "seed": 123, "n": 2}
    got = post(server, "/v1/chat/completions", body).json()
    ids = tok.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    texts, *_ = library_choices(cfg, params, tok, ids, max_tokens=10, n=2, seed=123)
    assert [c["message"]["content"] for c in got["choices"]] == texts
    assert all(c["message"]["role"] == "assistant" for c in got["choices"])
    assert got["usage"]["prompt_tokens"] == len(ids)


def test_concurrent_clients_are_batched_and_independent(server, reference):
    """Concurrent requests with different temperatures, top-p and lengths decode together in
    the continuous engine's rows, each as if alone."""
    cfg, params, tok = reference
    before = httpx.get(server.url + "/stats").json()["continuous"]
    words = ["football", "elections", "recipes", "stocks", "tennis", "weather", "movies", "ai"]
    temperatures = [0.8, 0.5, 0.0, 1.3]
    jobs = [
        {
            "prompt": f"latest {w} news",
            "max_tokens": 6 + i % 4 * 3,
            "temperature": temperatures[i % 4],
            "top_p": 0.9 if i % 3 == 0 else 1.0,
            "seed": 1000 + i,
        }
        for i, w in enumerate(words)
    ]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda b: post(server, "/v1/completions", b).json(), jobs))
    after = httpx.get(server.url + "/stats").json()["continuous"]
    assert after["jobs"] - before["jobs"] == len(jobs), after
    steps = after["steps"] - before["steps"]
    assert (after["row_steps"] - before["row_steps"]) / steps > 1, after  # rows shared steps
    for body, got in zip(jobs, answers, strict=True):
        texts, *_ = library_choices(
            cfg,
            params,
            tok,
            tok.encode(body["prompt"]),
            max_tokens=body["max_tokens"],
            temperature=body["temperature"],
            top_p=body["top_p"],
            seed=body["seed"],
        )
        assert got["choices"][0]["text"] == texts[0], body


def test_requests_the_engine_does_not_take_are_batched_per_call(server, reference):
    """top-k requests go to the dynamic batcher: concurrent ones share sampler calls."""
    cfg, params, tok = reference
    before = httpx.get(server.url + "/stats").json()
    words = ["football", "elections", "recipes", "stocks", "tennis", "weather"]
    jobs = [
        {"prompt": f"latest {w} news", "max_tokens": 8, "temperature": 0.8, "top_k": 20, "seed": i}
        for i, w in enumerate(words)
    ]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda b: post(server, "/v1/completions", b).json(), jobs))
    after = httpx.get(server.url + "/stats").json()
    assert after["largest_batch"] > 1, after  # requests shared sampler calls
    assert after["calls"] - before["calls"] < len(jobs)
    for body, got in zip(jobs, answers, strict=True):
        texts, *_ = library_choices(
            cfg, params, tok, tok.encode(body["prompt"]), max_tokens=8, temperature=0.8,
            top_k=20, seed=body["seed"],
        )  # fmt: skip
        assert got["choices"][0]["text"] == texts[0], body


def test_prompt_logprobs_score_given_text(server, reference):
    cfg, params, _ = reference
    ids = [5, 300, 41, 977, 12, 4000, 8]
    body = {"prompt": ids, "max_tokens": 0, "echo": True, "logprobs": 2, "prompt_logprobs": 2}
    choice = post(server, "/v1/completions", body).json()["choices"][0]
    want = forward_logprobs(cfg, params, ids)
    got = choice["logprobs"]["token_logprobs"]
    assert got[0] is None
    np.testing.assert_allclose(got[1:], want[1:], atol=LP_TOL)
    prompt_lp = choice["prompt_logprobs"]
    assert prompt_lp[0] is None
    for t in range(1, len(ids)):
        entry = prompt_lp[t][str(ids[t])]
        assert abs(entry["logprob"] - want[t]) <= LP_TOL
        ranks = sorted(v["rank"] for v in prompt_lp[t].values())
        assert ranks[0] == 1 and entry["rank"] >= 1


def test_stop_string_cuts_the_text(server, reference):
    cfg, params, tok = reference
    prompt = "the weather in paris"
    texts, *_ = library_choices(
        cfg, params, tok, tok.encode(prompt), max_tokens=16, temperature=0.0
    )
    full = texts[0]
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), full
    body = {"prompt": prompt, "max_tokens": 16, "temperature": 0, "stop": [stop]}
    choice = post(server, "/v1/completions", body).json()["choices"][0]
    assert choice["text"] == full[: full.find(stop)]
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "body, status, param",
    [
        ({"prompt": "hi", "max_tokens": 65}, 400, "max_tokens"),
        ({"prompt": "hi", "n": 17}, 400, "n"),
        ({"prompt": "hi", "temperature": "hot"}, 400, "temperature"),
        ({"prompt": "hi", "stream": True}, 400, "stream"),
        ({"prompt": "hi", "model": "gpt-4"}, 404, "model"),
        ({"prompt": [[1, 2], [99999]]}, 400, "prompt"),
        ({"prompt": ""}, 400, "prompt"),
        ({"max_tokens": 3}, 400, "prompt"),
        ({"prompt": "x " * 3000}, 413, None),
    ],
)
def test_bad_requests_get_4xx(server, body, status, param):
    r = post(server, "/v1/completions", body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert httpx.get(server.url + "/health").status_code == 200


def test_malformed_json_and_bad_chat_get_400(server):
    r = httpx.post(server.url + "/v1/completions", content=b'{"prompt": "hi",', timeout=30)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = post(server, "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = post(server, "/v1/completions", [1, 2, 3])
    assert r.status_code == 400
    ok = post(server, "/v1/completions", {"prompt": "hi", "max_tokens": 2})
    assert ok.status_code == 200


def test_client_disconnect_leaves_server_up(server):
    host, port = urlparse(server.url).hostname, urlparse(server.url).port
    for _ in range(3):
        body = json.dumps({"prompt": "a long story", "max_tokens": 64, "n": 8}).encode()
        head = (
            f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((host, port)) as sock:
            sock.sendall(head + body)
            time.sleep(0.05)
        # ... and one that leaves halfway through sending its body
        with socket.create_connection((host, port)) as sock:
            sock.sendall(head + body[:10])
    ok = post(server, "/v1/completions", {"prompt": "still there?", "max_tokens": 3})
    assert ok.status_code == 200
    assert httpx.get(server.url + "/health").status_code == 200


def test_openai_client(server, ckpt):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == [ckpt.name]
    done = client.completions.create(model=ckpt.name, prompt="hello", max_tokens=4, seed=1)
    assert done.choices[0].finish_reason in ("stop", "length") and done.usage.prompt_tokens > 0
    chat = client.chat.completions.create(
        model=ckpt.name,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )
    content = chat.choices[0].logprobs.content
    assert len(content) <= 4 and all(len(c.top_logprobs) == 2 for c in content)
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=ckpt.name, prompt="hi", max_tokens=1000)


def test_sigterm_lets_in_flight_request_finish(server):
    """Last in the file: it stops the module's server."""
    result = {}

    def call():
        body = {"prompt": "tell me everything", "max_tokens": 64, "temperature": 0}
        result["r"] = httpx.post(server.url + "/v1/completions", json=body, timeout=120)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.5)  # the request is queued or in the sampler
    code = server.stop()
    worker.join()
    assert result["r"].status_code == 200, result["r"].text
    assert len(result["r"].json()["choices"][0]["text"]) > 0
    assert code in GRACEFUL, "".join(server.lines)


def test_no_continuous_switch_routes_everything_to_the_batcher(ckpt, reference):
    """`serve --no-continuous`: /stats has no engine, and a greedy completion still equals the
    library's `generate` (its own server: the module's is stopped by the SIGTERM test)."""
    cfg, params, tok = reference
    srv = start_server(ckpt, "--no-continuous", "--max-batch-rows", "8")
    try:
        assert httpx.get(srv.url + "/stats").json()["continuous"] is None
        prompt = "the news today"
        body = {"prompt": prompt, "max_tokens": 6, "temperature": 0}
        got = post(srv, "/v1/completions", body).json()["choices"][0]["text"]
        texts, *_ = library_choices(cfg, params, tok, tok.encode(prompt), max_tokens=6,
                                    temperature=0.0)  # fmt: skip
        assert got == texts[0]
    finally:
        assert srv.stop() in GRACEFUL, "".join(srv.lines)
