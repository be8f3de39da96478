"""Chat-template prompts end to end: the real Qwen2.5 tokenizer on a random full-vocabulary
model, and real SmolLM2-135M-Instruct weights (slow); both against transformers' generate."""

import jax
import numpy as np
import pytest
import torch
import transformers

from jaxinterest.models.qwen2 import load_hf, save_hf
from jaxinterest.sampling import SamplingParams, generate
from jaxinterest.tokenizer import qwen25_tokenizer
from tests.qwen2_helpers import random_params, tiny_config

CHAT = [
    {"role": "system", "content": "You write short news search queries."},
    {"role": "user", "content": "I read about the Tour de France and electric bikes."},
]


def chat_ids(tok, messages) -> list[int]:
    enc = tok.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(enc["input_ids"])


def hf_greedy(hf, prompt, new, eos):
    with torch.no_grad():
        out = hf.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=new,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=eos[-1],
        )
    return out[0, len(prompt) :].tolist()


def test_qwen25_chat_template_end_to_end(tmp_path):
    tok = qwen25_tokenizer()
    im_start, im_end, endoftext = (
        tok.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
    )
    assert (im_start, im_end, endoftext) == (151644, 151645, 151643)
    cfg = tiny_config(
        vocab_size=151936,
        hidden_size=32,
        intermediate_size=64,
        num_layers=1,
        num_heads=2,
        num_kv_heads=1,
        tie_embeddings=False,
    )
    params = random_params(cfg, seed=3, scale=0.3)
    prompts = [chat_ids(tok, CHAT), chat_ids(tok, CHAT[1:])]
    assert prompts[0][0] == im_start and len(prompts[0]) != len(prompts[1])
    assert tok.decode(prompts[0]).endswith("<|im_start|>assistant\n")
    # Make <|im_end|> the greedy choice a few tokens in: give its LM-head column a slightly
    # larger copy of the column of the token the model would pick at step 3.
    free = generate(params, cfg, prompts[:1], SamplingParams(4, temperature=0.0))
    target = int(free.tokens[0, 3])
    head = np.array(params["lm_head"]["kernel"])
    head[:, im_end] = 1.05 * head[:, target]
    params["lm_head"]["kernel"] = jax.numpy.asarray(head)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        save_hf(tmp_path, cfg, params), dtype=torch.float32
    ).eval()

    eos = [im_end, endoftext]
    sp = SamplingParams(max_new_tokens=10, temperature=0.0, stop_ids=tuple(eos))
    out = generate(params, cfg, prompts, sp, pad_id=endoftext)
    assert out.finished[0] and out.tokens[0, out.lengths[0] - 1] == im_end
    for i, prompt in enumerate(prompts):
        ref = hf_greedy(hf, prompt, 10, eos)
        assert out.tokens[i, : out.lengths[i]].tolist() == ref, f"prompt {i}"
        assert (out.tokens[i, out.lengths[i] :] == endoftext).all()
    texts = out.texts(tok)
    assert texts[0] == tok.decode(out.tokens[0, : out.lengths[0] - 1], skip_special_tokens=True)
    assert "<|im_end|>" not in texts[0]
    full = tok.decode(prompts[0] + out.completions()[0])
    assert full.endswith("<|im_end|>") and "<|im_start|>assistant\n" in full


@pytest.mark.slow
def test_smollm2_chat_greedy_matches_transformers(tmp_path):
    from jaxinterest.models.qwen2.gguf import smollm2_gguf_path, write_hf_dir

    path = write_hf_dir(smollm2_gguf_path(), tmp_path / "smollm2")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    cfg, params = load_hf(path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prompt = chat_ids(tok, CHAT)
    eos = [tok.convert_tokens_to_ids("<|im_end|>")]
    new = 32
    out = generate(
        params,
        cfg,
        [prompt],
        SamplingParams(max_new_tokens=new, temperature=0.0, stop_ids=tuple(eos)),
        pad_id=tok.pad_token_id or 0,
    )
    ref = hf_greedy(hf, prompt, new, eos)
    assert out.tokens[0, : out.lengths[0]].tolist() == ref
    text = out.texts(tok)[0]
    assert len(text.strip()) > 0
    print("SmolLM2:", repr(text))
