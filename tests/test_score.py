"""`score`: per-token log-probs (and full log-softmax) of given completions vs transformers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from jaxinterest import sampling
from jaxinterest.models.qwen2 import save_hf, token_log_softmax, token_logprobs
from jaxinterest.sampling import pack, score
from tests.qwen2_helpers import random_params, tiny_config

CFG = tiny_config(vocab_size=260, tie_embeddings=False, max_position_embeddings=128)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    params = random_params(CFG, seed=11, scale=0.2)
    path = save_hf(tmp_path_factory.mktemp("hf"), CFG, params)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    rng = np.random.default_rng(2)
    prompts = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (4, 1, 17, 9, 2)]
    completions = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (6, 11, 1, 0, 3)]
    return params, hf, prompts, completions


def hf_log_softmax(hf, prompt, completion):
    with torch.no_grad():
        logits = hf(torch.tensor([prompt + completion])).logits[0].double()
    return torch.log_softmax(logits, -1)[len(prompt) - 1 : len(prompt) + len(completion) - 1]


def test_score_matches_transformers(model):
    params, hf, prompts, completions = model
    out = score(params, CFG, prompts, completions, return_full_logprobs=True, batch_rows=3)
    width = max(map(len, completions))
    assert out.logprobs.shape == (5, width)
    assert out.full_logprobs.shape == (5, width, CFG.vocab_size)
    assert out.lengths.tolist() == [len(c) for c in completions]
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        ref = hf_log_softmax(hf, p, c).numpy()
        n = len(c)
        picked = ref[np.arange(n), c]
        assert np.abs(out.logprobs[i, :n] - picked).max(initial=0) <= 1e-5, f"row {i}"
        assert np.abs(out.full_logprobs[i, :n] - ref).max(initial=0) <= 1e-5, f"row {i}"
        assert (out.logprobs[i, n:] == 0).all()


def test_sampling_re_exports_the_model_logprob_functions():
    assert sampling.token_logprobs is token_logprobs
    assert sampling.token_log_softmax is token_log_softmax


def test_token_logprobs_is_pure_jittable_and_differentiable(model):
    params, hf, prompts, completions = model
    batch = pack(prompts, completions, pad_id=0)
    args = (batch["tokens"], batch["attention_mask"], batch["completion_mask"])
    f = jax.jit(token_logprobs, static_argnums=4)
    lp = np.asarray(f(params, *args, CFG))
    full = np.asarray(jax.jit(token_log_softmax, static_argnums=3)(params, *args[:2], CFG))
    p_width = max(map(len, prompts))
    for i, c in enumerate(completions):
        picked = np.take_along_axis(full[i], batch["tokens"][i, :, None], 1)[:, 0]
        cols = slice(p_width, p_width + len(c))
        np.testing.assert_allclose(lp[i, cols], picked[cols], atol=1e-6)
        ref = hf_log_softmax(hf, prompts[i], c).numpy()
        assert np.abs(full[i, cols] - ref).max(initial=0) <= 1e-5
    assert (lp[~batch["completion_mask"]] == 0).all()

    def loss(params):
        return -jnp.sum(token_logprobs(params, *args, CFG))

    grads = jax.jit(jax.grad(loss))(params)
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and max(norms) > 0


@pytest.mark.parametrize(
    "prompts,completions,match",
    [
        ([[1, 2]], [[3], [4]], "1 prompts but 2 completions"),
        ([[1, 2], []], [[3], [4]], "prompt 1 is empty"),
        ([[1, 2]], [[3, 999]], "completion 0 has token ids outside"),
        ([], [], "prompt list is empty"),
    ],
)
def test_score_bad_input(model, prompts, completions, match):
    params = model[0]
    with pytest.raises(ValueError, match=match):
        score(params, CFG, prompts, completions)
