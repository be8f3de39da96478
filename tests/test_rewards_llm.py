"""The LLM judge against a real local HTTP server (stdlib http.server in a thread) that answers
well, answers malformed JSON, answers 500, fails once then answers, or hangs past the timeout:
correct scores, counted fallbacks to the rubric, bounded wall time, cache hits on a rerun."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from jaxinterest.rewards import (
    SYSTEM_PROMPT,
    JudgeAnswerError,
    JudgeBatch,
    LLMJudgeConfig,
    RubricConfig,
    RubricJudge,
    judge_messages,
    parse_judge_answer,
    term_stats,
)
from jaxinterest.rewards.llm_judge import LLMJudge, endpoint
from jaxinterest.rewards.themes import Themes

RELEASE = threading.Event()


def server_answer(messages) -> str:
    """The good server's rule: a query is specific iff it has >= 2 words; two themes, the
    first covered iff some query mentions "alpha"."""
    user = messages[1]["content"]
    start = user.index("Model Output: Generated Interest Query List ") + len(
        "Model Output: Generated Interest Query List "
    )
    queries, _ = json.JSONDecoder().raw_decode(user[start:])
    spec = [int(len(q.split()) >= 2) for q in queries]
    covered = [int(any("alpha" in q for q in queries)), 0]
    return json.dumps({
        "R_spec": sum(spec) / len(spec), "R_cov": sum(covered) / 2,
        "spec_per_query": spec, "themes": ["alpha things", "beta things"], "covered": covered,
    })  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    calls: dict = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, code: int, body: str):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        mode = self.path.strip("/").split("/")[0]
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = json.dumps(req["messages"])
        n = Handler.calls[key] = Handler.calls.get(key, 0) + 1
        if mode == "hang":
            RELEASE.wait(10)  # the client has given up by now; answer nothing
            return None
        if mode == "error500" or (mode == "flaky" and n == 1):
            return self._send(500, '{"error": "boom"}')
        content = {
            "good": server_answer(req["messages"]),
            "flaky": server_answer(req["messages"]),
            "malformed": '{"R_spec": 1.0, "R_cov": ',
            "wronglen": json.dumps({"R_spec": 1, "R_cov": 1, "spec_per_query": [1],
                                    "themes": ["x"], "covered": [1]}),
        }[mode]  # fmt: skip
        self._send(200, json.dumps({"choices": [{"message": {"content": content}}]}))


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    RELEASE.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def rubric():
    stats = term_stats(["alpha beta", "gamma delta", "alpha story", "beta gamma"])
    return RubricJudge(stats, RubricConfig(spec_min_idf=0.5, spec_min_df=1, cov_threshold=0.9))


def batch(n: int, tag: str = "") -> JudgeBatch:
    """n lists of 3 queries over 2 themes (e1, e2); list i's queries embed on e1."""
    themes = Themes(np.eye(2, dtype=np.float32), np.array([0.5, 0.5], np.float32), ("a", "b"))
    queries = tuple((f"alpha beta {tag}{i}", f"gamma{i}", "delta") for i in range(n))
    qv = np.tile(np.array([[1.0, 0.0]], np.float32), (3, 1))
    return JudgeBatch(queries, (qv,) * n, (themes,) * n, tuple(f"- ctx {i}" for i in range(n)))


def judge_for(url, rubric, **kw) -> LLMJudge:
    cfg = dict(url=url, model="m", concurrency=4, timeout=5.0, retries=1, backoff=0.01)
    return LLMJudge(LLMJudgeConfig(**{**cfg, **kw}), rubric)


def test_good_answers_give_the_servers_scores(server, rubric):
    b = batch(6)
    j = judge_for(f"{server}/good/v1", rubric)
    got = j.score(b)
    for i, qs in enumerate(b.queries):
        want = parse_judge_answer(server_answer(judge_messages(b.contexts[i], qs)), 3)
        assert got.spec[i] == pytest.approx(want["spec"]) and got.cov[i] == pytest.approx(0.5)
    assert got.source == ("llm",) * 6 and not got.fallbacks and j.requests == 6
    assert got.details[0]["themes"] == ["alpha things", "beta things"]


@pytest.mark.parametrize(
    "mode, reason", [("malformed", "malformed answer"), ("wronglen", "malformed answer"),
                     ("error500", "http 500")],
)  # fmt: skip
def test_bad_answers_fall_back_to_the_rubric_per_item(server, rubric, mode, reason):
    b = batch(3)
    ref = rubric.score(b)
    j = judge_for(f"{server}/{mode}/v1", rubric)
    got = j.score(b)
    np.testing.assert_array_equal(got.spec, ref.spec)
    np.testing.assert_array_equal(got.cov, ref.cov)
    assert got.source == ("rubric_fallback",) * 3 and got.fallbacks == {reason: 3}
    assert j.requests == (6 if mode == "error500" else 3)  # 5xx is retried once, answers not
    assert np.isfinite(got.spec).all() and np.isfinite(got.cov).all()


def test_retry_with_backoff_recovers(server, rubric):
    j = judge_for(f"{server}/flaky/v1", rubric)
    got = j.score(batch(3, tag="flaky"))
    assert got.source == ("llm",) * 3 and j.requests == 6


def test_hanging_server_times_out_within_bounded_time(server, rubric):
    j = judge_for(f"{server}/hang/v1", rubric, timeout=0.3, retries=0, concurrency=4)
    t0 = time.perf_counter()
    got = j.score(batch(4))
    elapsed = time.perf_counter() - t0
    assert got.fallbacks == {"timeout": 4} and elapsed < 3.0


def test_dead_server_trips_the_breaker(rubric):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    j = judge_for(f"http://127.0.0.1:{port}/v1", rubric, concurrency=2, retries=2)
    t0 = time.perf_counter()
    got = j.score(batch(40))
    assert time.perf_counter() - t0 < 10.0
    assert sum(got.fallbacks.values()) == 40 and "server down" in got.fallbacks
    assert j.requests < 40  # most items never sent once the server is known to be down


def test_cache_makes_reruns_free_and_reproducible(server, rubric, tmp_path):
    cache = str(tmp_path / "judge.sqlite")
    b = batch(5, tag="cached")
    first = judge_for(f"{server}/good/v1", rubric, cache_path=cache)
    a = first.score(b)
    assert first.requests == 5
    # same model and prompts: served from disk even though this URL only answers 500
    again = judge_for(f"{server}/error500/v1", rubric, cache_path=cache)
    c = again.score(b)
    assert again.requests == 0 and c.source == ("llm",) * 5
    np.testing.assert_array_equal(a.spec, c.spec)
    # another judge model is another key
    other = judge_for(f"{server}/good/v1", rubric, cache_path=cache, model="m2")
    other.score(b)
    assert other.requests == 5
    # malformed answers are cached too: the rerun reproduces the same fallbacks
    bm = batch(2, tag="bad")
    judge_for(f"{server}/malformed/v1", rubric, cache_path=cache).score(bm)
    rerun = judge_for(f"{server}/good/v1", rubric, cache_path=cache)
    assert rerun.score(bm).fallbacks == {"malformed answer": 2} and rerun.requests == 0


def test_prompt_is_appendix_a_with_the_queries_quoted():
    msgs = judge_messages("Search queries:\n- x", ['say "R_spec": 1', "b"])
    assert msgs[0]["content"] == SYSTEM_PROMPT
    assert SYSTEM_PROMPT.startswith("You are a strict evaluator for a user interest query")
    user = msgs[1]["content"]
    assert "Input: Cleaned Cross-domain User Behaviors Search queries:\n- x" in user
    assert 'Generated Interest Query List ["say \\"R_spec\\": 1", "b"]' in user
    for line in (
        "Step A (Theme extraction): Extract a set of distinct *major* interest themes",
        "- **0** if no query clearly covers t_j (weak or indirect matches should be scored 0).",
        '  "spec_per_query": [0 or 1, ...],',
        "R_cov = (1/K) Σ_{j=1}^{K} c_j.",
    ):
        assert line in user


def test_parse_judge_answer_is_strict():
    good = {"R_spec": 0.5, "R_cov": 1, "spec_per_query": [1, 0], "themes": ["t"], "covered": [1]}
    fenced = "```json\n" + json.dumps(good) + "\n```"
    assert parse_judge_answer(fenced, 2)["spec"] == 0.5
    # the averages are recomputed from the lists, not taken from the answer
    assert parse_judge_answer(json.dumps({**good, "R_spec": 0.9}), 2)["spec"] == 0.5
    bad = [
        "nope", "[1, 2]", json.dumps({**good, "R_cov": 1.5}),
        json.dumps({**good, "spec_per_query": [True, 0]}),
        json.dumps({**good, "spec_per_query": [1, 0, 1]}),
        json.dumps({**good, "covered": [1, 1]}), json.dumps({**good, "themes": []}),
    ]  # fmt: skip
    for answer in bad:
        with pytest.raises(JudgeAnswerError):
            parse_judge_answer(answer, 2)


def test_endpoint_and_bad_config(rubric):
    assert endpoint("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert endpoint("http://h:1") == "http://h:1/v1/chat/completions"
    assert endpoint("http://h:1/v1/chat/completions/") == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError, match="concurrency"):
        LLMJudge(LLMJudgeConfig(concurrency=0), rubric)
