"""The tiny family's BPE tokenizer: shipped asset, training, chat format, bad input."""

import subprocess
import sys
from pathlib import Path

import pytest

from jaxinterest.tokenizer import TINY_SPECIAL_TOKENS, tiny_tokenizer, train_bpe

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "jaxinterest" / "assets" / "tiny_bpe_8k.json"


def test_shipped_asset_shape():
    tok = tiny_tokenizer()
    assert len(tok) == 8192
    assert tok.convert_ids_to_tokens([0, 1, 2]) == list(TINY_SPECIAL_TOKENS)
    assert (tok.eos_token_id, tok.pad_token_id, tok.bos_token) == (2, 0, None)
    ids = tok("Storm warning 2024", add_special_tokens=False).input_ids
    assert tok.convert_ids_to_tokens(ids)[-4:] == ["2", "0", "2", "4"]  # digits one by one
    assert max(ids) < 8192


@pytest.mark.parametrize(
    "text",
    ["Senate approves the budget after a long debate.", "Ünïcödé 東京 😀", "  a\n\n\tb  ", ""],
)
def test_round_trip(text):
    tok = tiny_tokenizer()
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text


def test_chatml_template():
    tok = tiny_tokenizer()
    convo = [
        {"role": "system", "content": "Write queries."},
        {"role": "user", "content": "I like rugby."},
        {"role": "assistant", "content": "rugby scores"},
    ]
    want = (
        "<|im_start|>system\nWrite queries.<|im_end|>\n<|im_start|>user\nI like rugby.<|im_end|>\n"
        "<|im_start|>assistant\nrugby scores<|im_end|>\n"
    )
    assert tok.apply_chat_template(convo, tokenize=False) == want
    # No default system turn, unlike Qwen2.5.
    got = tok.apply_chat_template(convo[1:2], tokenize=False, add_generation_prompt=True)
    assert got == "<|im_start|>user\nI like rugby.<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(want, add_special_tokens=False).input_ids
    assert ids[0] == 1 and ids.count(2) == 3  # role markers are single ids


def _corpus(n=400):
    words = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega".split()
    return [" ".join(words[(i * k) % len(words)] for k in range(1, 9)) + f" {i}" for i in range(n)]


def test_train_exact_size_and_reload(tmp_path):
    path = tmp_path / "t.json"
    backend = train_bpe(_corpus(), vocab_size=300, path=path)
    assert backend.get_vocab_size() == 300
    tok = tiny_tokenizer(path)
    assert len(tok) == 300
    assert [tok.convert_tokens_to_ids(s) for s in TINY_SPECIAL_TOKENS] == [0, 1, 2]
    text = "gamma omega 17 <|im_end|>"
    assert tok(text, add_special_tokens=False).input_ids == backend.encode(text).ids


def test_train_too_small_corpus():
    with pytest.raises(ValueError, match="not 8192"):
        train_bpe(["tiny corpus"], vocab_size=8192)
    with pytest.raises(ValueError, match="must exceed"):
        train_bpe(["x"], vocab_size=100)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        tiny_tokenizer(tmp_path / "missing.json")
    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    with pytest.raises(ValueError, match="junk.json"):
        tiny_tokenizer(junk)


@pytest.mark.slow
def test_script_regenerates_asset_bit_for_bit(tmp_path):
    # The corpus includes the synthetic world's `small` preset: when the world generator changes,
    # this fails until the asset is regenerated with the script (and the tiny models retrained).
    out = tmp_path / "tiny.json"
    script = ROOT / "experiments" / "train_tiny_tokenizer.py"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True)
    assert out.read_bytes() == ASSET.read_bytes()
