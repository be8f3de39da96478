"""Generation engine vs transformers: greedy tokens, EOS handling, log-probs, determinism."""

import jax
import numpy as np
import pytest
import torch
import transformers

from jaxinterest.models.qwen2 import save_hf
from jaxinterest.sampling import SamplingParams, generate, score
from tests.qwen2_helpers import random_params, tiny_config

# Larger weights than HF's 0.02 init: logits spread over several nats, so greedy choices are
# not decided by float noise and a mistake anywhere changes tokens.
CFG = tiny_config(vocab_size=300, max_position_embeddings=128)
PROMPT_LENGTHS = (1, 5, 13, 30)
NEW = 12
GREEDY = SamplingParams(max_new_tokens=NEW, temperature=0.0)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    params = random_params(CFG, seed=5, scale=0.25)
    path = save_hf(tmp_path_factory.mktemp("hf"), CFG, params)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    prompts = [rng.integers(1, CFG.vocab_size, n).tolist() for n in PROMPT_LENGTHS]
    return params, hf, prompts


def hf_greedy(hf, prompt, new, eos=None):
    """transformers' greedy continuation of one unpadded prompt."""
    with torch.no_grad():
        out = hf.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=new,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=0,
        )
    return out[0, len(prompt) :].tolist()


def hf_log_softmax(hf, prompt, completion):
    """[C, V] log-softmax of transformers' logits at each completion position."""
    seq = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = hf(seq).logits[0].double()
    return torch.log_softmax(logits, -1)[len(prompt) - 1 : -1].numpy()


BACKENDS = ["kernel", "xla"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_greedy_matches_transformers(model, backend):
    params, hf, prompts = model
    out = generate(params, CFG, prompts, GREEDY, backend=backend)
    assert out.tokens.shape == (len(prompts), NEW)
    for i, prompt in enumerate(prompts):
        assert out.tokens[i].tolist() == hf_greedy(hf, prompt, NEW), f"prompt {i}"
    assert out.lengths.tolist() == [NEW] * len(prompts)
    assert not out.finished.any()
    assert out.prompt_index.tolist() == list(range(len(prompts)))
    assert (out.logprobs == 0).all()  # the greedy distribution is a point mass


@pytest.mark.parametrize("backend", BACKENDS)
def test_greedy_stops_at_eos_like_transformers(model, backend):
    params, hf, prompts = model
    # An EOS id that transformers' greedy run of prompt 2 emits at step 4 (and maybe elsewhere).
    eos = hf_greedy(hf, prompts[2], NEW)[4]
    out = generate(
        params,
        CFG,
        prompts,
        SamplingParams(max_new_tokens=NEW, temperature=0.0, stop_ids=(eos,)),
        pad_id=7,
        backend=backend,
    )
    for i, prompt in enumerate(prompts):
        ref = hf_greedy(hf, prompt, NEW, eos=eos)
        n = len(ref)
        assert out.lengths[i] == n, f"prompt {i}"
        assert out.tokens[i, :n].tolist() == ref
        assert (out.tokens[i, n:] == 7).all() and (out.logprobs_raw[i, n:] == 0).all()
        assert out.finished[i] == (ref[-1] == eos)
    assert out.finished[2] and out.lengths[2] <= 5
    assert out.completions(strip_eos=True)[2] == out.tokens[2, : out.lengths[2] - 1].tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_logprobs_equal_score_and_transformers(model, backend):
    params, hf, prompts = model
    out = generate(
        params,
        CFG,
        prompts,
        SamplingParams(max_new_tokens=NEW, num_samples=3, temperature=1.0),
        key=jax.random.key(1),
        backend=backend,
    )
    assert out.tokens.shape == (len(prompts) * 3, NEW)
    assert out.prompt_index.tolist() == np.repeat(np.arange(len(prompts)), 3).tolist()
    # Plain temperature 1: the sampling distribution is the raw model (the two are computed
    # by different float reductions, hence not bit-equal).
    np.testing.assert_allclose(out.logprobs, out.logprobs_raw, rtol=0, atol=1e-6)
    rows = [prompts[i] for i in out.prompt_index]
    scored = score(params, CFG, rows, out.completions())
    assert np.abs(scored.logprobs - out.logprobs_raw).max() <= 1e-5
    for r in range(0, len(rows), 2):
        ref = hf_log_softmax(hf, rows[r], out.completions()[r])
        picked = np.take_along_axis(ref, out.tokens[r, :NEW, None], axis=1)[:, 0]
        assert np.abs(out.logprobs_raw[r] - picked).max() <= 1e-5, f"row {r}"
    # Different samples of one prompt differ (G rows are not copies of one draw).
    assert len({tuple(t) for t in out.tokens[:3].tolist()}) > 1


def _filtered_logprob(logp_row: np.ndarray, token: int, temperature, top_k, top_p) -> float:
    """Log-prob of `token` under softmax(logits / T) cut to top-k, then to the top-p nucleus,
    written from the definition (independently of the engine's code)."""
    scaled = logp_row / temperature
    order = np.argsort(-scaled, kind="stable")
    keep = order[:top_k] if top_k else order
    probs = np.exp(scaled[keep] - scaled[keep].max())
    probs /= probs.sum()
    mass_before = np.cumsum(probs) - probs
    nucleus = keep[mass_before < top_p]
    if token not in nucleus:
        return -np.inf
    z = np.log(np.exp(scaled[nucleus] - scaled[nucleus].max()).sum()) + scaled[nucleus].max()
    return float(scaled[token] - z)


@pytest.mark.parametrize("top_k", [0, 20])
def test_filtered_logprobs_match_definition(model, top_k):
    params, hf, prompts = model
    t, p = 0.7, 0.8
    out = generate(
        params,
        CFG,
        prompts[:2],
        SamplingParams(max_new_tokens=6, num_samples=2, temperature=t, top_p=p, top_k=top_k),
        key=jax.random.key(2),
    )
    for r in range(out.tokens.shape[0]):
        prompt = prompts[out.prompt_index[r]]
        ref = hf_log_softmax(hf, prompt, out.completions()[r])
        for j, token in enumerate(out.tokens[r]):
            want = _filtered_logprob(ref[j], int(token), t, top_k, p)
            assert np.isfinite(want), f"row {r} step {j}: token outside the filtered set"
            assert abs(out.logprobs[r, j] - want) <= 1e-5
            assert abs(out.logprobs_raw[r, j] - ref[j, token]) <= 1e-5


def test_same_key_same_tokens_different_keys_differ(model):
    params, _, prompts = model
    sp = SamplingParams(max_new_tokens=8, num_samples=2, temperature=1.0, top_p=0.9)
    a = generate(params, CFG, prompts, sp, key=jax.random.key(3))
    b = generate(params, CFG, prompts, sp, key=jax.random.key(3))
    c = generate(params, CFG, prompts, sp, key=jax.random.key(4))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.logprobs, b.logprobs)
    assert (a.tokens != c.tokens).mean() > 0.5


def test_shared_prefill_and_chunking_do_not_change_results(model):
    params, _, prompts = model
    sp = SamplingParams(max_new_tokens=7, num_samples=3, temperature=1.0)
    shared = generate(params, CFG, prompts, sp, key=jax.random.key(5))
    separate = generate(params, CFG, prompts, sp, key=jax.random.key(5), share_prefill=False)
    np.testing.assert_array_equal(shared.tokens, separate.tokens)
    assert np.abs(shared.logprobs - separate.logprobs).max() <= 1e-5
    # Greedy in chunks of 2 rows (other buckets, other batch sizes) == one batch.
    greedy = SamplingParams(max_new_tokens=7, temperature=0.0)
    one = generate(params, CFG, prompts, greedy)
    chunked = generate(params, CFG, prompts, greedy, batch_rows=2)
    np.testing.assert_array_equal(one.tokens, chunked.tokens)
    assert np.abs(one.logprobs_raw - chunked.logprobs_raw).max() <= 1e-5
    # Prefill in groups of one prompt, each at its own width, then stacked == one prefill.
    grouped = generate(params, CFG, prompts, greedy, prefill_rows=1)
    np.testing.assert_array_equal(one.tokens, grouped.tokens)
    assert np.abs(one.logprobs_raw - grouped.logprobs_raw).max() <= 1e-5


def test_texts_decodes_each_row_without_eos():
    from jaxinterest.sampling import Generation

    class Echo:
        def decode(self, ids, skip_special_tokens=True):
            return ",".join(map(str, ids))

    g = Generation(
        tokens=np.array([[5, 6, 2, 0], [7, 8, 9, 1]], np.int32),
        logprobs=np.zeros((2, 4), np.float32),
        logprobs_raw=np.zeros((2, 4), np.float32),
        lengths=np.array([3, 4], np.int32),
        finished=np.array([True, False]),
        prompt_index=np.array([0, 0], np.int32),
        num_samples=2,
    )
    assert g.texts(Echo()) == ["5,6", "7,8,9,1"]
    packed = g.packed([[3, 4]], pad_id=0)
    assert packed["tokens"].tolist() == [[3, 4, 5, 6, 2, 0], [3, 4, 7, 8, 9, 1]]
    assert packed["completion_mask"].sum(1).tolist() == [3, 4]


def test_repeated_calls_reuse_compiled_programs(model):
    """Prompt lengths and max_new_tokens inside one bucket, and other temperature/top-p
    values, run the already compiled programs."""
    from jaxinterest.sampling import engine

    params, _, _ = model
    key = jax.random.key(0)
    first = SamplingParams(max_new_tokens=9, temperature=0.7, num_samples=2, top_p=0.9)
    generate(params, CFG, [[1, 2, 3], [4] * 17], first, key=key)
    sizes = engine.prefill._cache_size(), engine.decode._cache_size()
    second = SamplingParams(max_new_tokens=14, temperature=1.3, num_samples=2, top_p=0.9)
    generate(params, CFG, [[5] * 20, [6, 7]], second, key=key)
    assert (engine.prefill._cache_size(), engine.decode._cache_size()) == sizes
