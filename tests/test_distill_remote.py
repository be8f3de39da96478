"""A remote teacher over real HTTP: `jaxinterest serve` in a subprocess scores the student's
packed batch with `prompt_logprobs`, and the log-probs equal the local teacher's; a dead server
or a wrong model name is a TeacherError naming the server, not a hang or a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from jaxinterest.models.qwen2 import load_hf
from jaxinterest.sampling import pack
from jaxinterest.serve.launch import free_port
from jaxinterest.train.teacher import LocalTeacher, RemoteTeacher, TeacherError, load_teacher
from tests.serve_helpers import export_tiny, start_server

LP_TOL = 1e-5  # another batch size / padding width reorders float32 sums (docs/serving.md)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("teacher") / "teacher", seed=3)


@pytest.fixture(scope="module")
def server(ckpt):
    srv = start_server(ckpt, "--max-wait-ms", "20")
    yield srv
    srv.stop()


def packed(vocab, rows=6, seed=0, width=9):
    rng = np.random.default_rng(seed)
    prompts = [list(rng.integers(5, vocab, rng.integers(3, 12))) for _ in range(rows)]
    comps = [list(rng.integers(5, vocab, rng.integers(1, width + 1))) for _ in range(rows)]
    return pack(prompts, comps, 0, 12, width)


def test_remote_equals_local_teacher(server, ckpt):
    cfg, params = load_hf(ckpt)
    batch = packed(cfg.vocab_size)
    local = LocalTeacher(cfg, params).token_logprobs(batch, 9)
    # 2 rows per request, 3 at a time: the rows come back in order whatever the batching
    remote = RemoteTeacher(server.url, rows_per_request=2, concurrency=3).token_logprobs(batch)
    mask = batch["completion_mask"]
    assert np.all(remote[~mask] == 0)
    assert np.all(remote[mask] < 0)
    np.testing.assert_allclose(remote, local, rtol=0, atol=LP_TOL)
    teacher, tokenizer = load_teacher(server.url + "/v1", rows_per_request=4)
    assert isinstance(teacher, RemoteTeacher) and tokenizer is None
    np.testing.assert_allclose(teacher.token_logprobs(batch), remote, rtol=0, atol=LP_TOL)


def test_refused_and_dead_servers_raise_teacher_error(server):
    batch = packed(8192, rows=2)
    with pytest.raises(TeacherError, match="HTTP 404"):
        RemoteTeacher(server.url, model="no-such-model", retries=3).token_logprobs(batch)
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TeacherError, match=dead):
        RemoteTeacher(dead, retries=1, timeout=5).token_logprobs(batch)
