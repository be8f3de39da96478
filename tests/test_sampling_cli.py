"""`jaxinterest generate` end to end on a tiny preset, and its error path."""

import json

import pytest

from jaxinterest.cli import main


def test_generate_command_prints_samples(capsys):
    argv = [
        "generate",
        "--preset",
        "tiny-1m",
        "--prompt",
        "cheap flights to lisbon",
        "--prompt",
        "hi",
        "--chat",
        "--num-samples",
        "2",
        "--max-new-tokens",
        "5",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["prompt"] for r in report["samples"]] == [0, 0, 1, 1]
    assert all(1 <= r["tokens"] <= 5 and r["logprob"] < 0 for r in report["samples"])
    assert report["prompt_tokens"][0] > report["prompt_tokens"][1] > 5  # chat-wrapped


def test_generate_command_bad_input_is_an_error():
    with pytest.raises(SystemExit, match="max_new_tokens must be a positive integer"):
        main(["generate", "--preset", "tiny-1m", "--prompt", "hi", "--max-new-tokens", "0"])
