"""The console script: --help on every subcommand, and the default main job runs."""

import json
import subprocess
import sys

import pytest

from jaxinterest.cli import COMMANDS, build_parser, main


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    # Subcommands are spelled with dashes, their modules with underscores.
    assert {name.replace("-", "_") for name in sub.choices} <= set(COMMANDS)
    assert "info" in sub.choices
    for name in sub.choices:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: jaxinterest " + name in capsys.readouterr().out


def test_progress_switch_is_spelled_the_same_everywhere():
    """Every command with progress bars takes both --quiet and --no-progress, as one switch."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    with_bars = []
    for name, cmd in sub.choices.items():
        flags = {o: a.dest for a in cmd._actions for o in a.option_strings}
        if "--quiet" in flags or "--no-progress" in flags:
            with_bars.append(name)
            assert flags.get("--quiet") == flags.get("--no-progress") is not None, name
    assert {"sft", "grpo", "distill", "best-of-n", "quickstart", "world"} <= set(with_bars)


def test_info_runs_a_forward_pass():
    out = subprocess.run(
        [sys.executable, "-m", "jaxinterest.cli", "info", "--preset", "tiny-1m", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["params"] == 1_196_672
    # Random init: the loss is close to uniform over the vocabulary, and finite.
    assert abs(report["loss_nats_per_token"] - report["uniform_loss"]) < 0.5
    assert len(report["next_token_top5"]) == 5


def test_unknown_preset_is_a_clear_error():
    out = subprocess.run(
        [sys.executable, "-m", "jaxinterest.cli", "info", "--preset", "nope"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "unknown model preset 'nope'" in out.stderr
