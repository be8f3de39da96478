"""Export round trip: transformers loads the exported directory as is and gives our logits,
our tokenizer and chat template, and stops where our sampler stops."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from jaxinterest import tokenizer as tok
from jaxinterest.cli import main
from jaxinterest.models import qwen2
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.serve import ServedModel, export_hf
from tests.qwen2_helpers import random_params

TOL = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = qwen2.get_preset("tiny-1m").replace(num_layers=2)
    params = random_params(cfg, seed=3, scale=0.05)  # norms and biases random too
    model = ServedModel("tiny", cfg, params, tok.tiny_tokenizer(), "test")
    out = export_hf(model, tmp_path_factory.mktemp("export") / "hf")
    return model, out


def test_transformers_loads_the_export_and_gives_our_logits(exported):
    model, out = exported
    hf = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tokens = np.random.default_rng(0).integers(0, model.cfg.vocab_size, (2, 21))
    with torch.no_grad():
        ref = hf(torch.tensor(tokens)).logits.numpy()
    ours = np.asarray(qwen2.forward(model.params, jnp.asarray(tokens), model.cfg))
    assert np.abs(ours - ref).max() <= TOL


def test_tokenizer_and_chat_template_round_trip(exported):
    model, out = exported
    loaded = transformers.AutoTokenizer.from_pretrained(out)
    text = "Où est la gare? 12 km — ok"
    assert loaded.encode(text) == model.tokenizer.encode(text)
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "hi there"}]
    render = lambda t: t.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)  # noqa: E731
    assert render(loaded) == render(model.tokenizer)
    assert render(loaded).endswith("<|im_start|>assistant\n")


def test_generation_config_stops_where_we_stop(exported):
    model, out = exported
    gen = json.loads((out / "generation_config.json").read_text())
    config = json.loads((out / "config.json").read_text())
    want = sorted(
        {model.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    )
    assert sorted(gen["eos_token_id"]) == want == sorted(config["eos_token_id"])
    assert gen["pad_token_id"] == model.tokenizer.pad_token_id


def test_transformers_greedy_generate_equals_ours(exported):
    model, out = exported
    hf = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    prompt = model.tokenizer.encode("breaking news from the tennis open")
    with torch.no_grad():
        ref = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)
    ref = ref[0, len(prompt) :].tolist()
    ours = generate(
        model.params,
        model.cfg,
        [prompt],
        SamplingParams(max_new_tokens=12, temperature=0.0, stop_ids=model.stop_ids),
        pad_id=model.pad_id,
    ).completions()[0]
    assert ours == ref


def test_export_command_bfloat16_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "bf16"
    assert main(["export", "--preset", "tiny-1m", "--dtype", "bfloat16", "--to", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and "model.safetensors" in report["files"]
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    cfg, params = qwen2.load_hf(out)
    init = qwen2.init_params(cfg, jax.random.key(0))
    want = np.asarray(init["embed"]["embedding"]).astype(jnp.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(params["embed"]["embedding"]), want)
    assert main(["export", "--preset", "tiny-1m", "--to", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
