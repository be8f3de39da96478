"""`jaxinterest rewards`: one scored line per input line in input order, a summary, floors for
bad completions, clear errors for bad files, --resume, and --help in a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jaxinterest.cli import main
from jaxinterest.data.io import load_world
from jaxinterest.data.world import generate_world, make_config
from jaxinterest.rewards import SIGNALS


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("rewards_cli")
    generate_world(make_config("tiny", n_users=30, n_news=800, seed=4), path, progress=False)
    return path


@pytest.fixture(scope="module")
def users(world_dir):
    return load_world(world_dir, parts=("users",)).users.column("user_id").to_pylist()


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def close(a, b, tol=1e-5) -> bool:
    """Equal JSON values, floats within tol."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


def completions(users):
    good = json.dumps(["heat wave cleveland", "school board vote", "series finale review",
                       "drought in arizona", "student loan forgiveness"])  # fmt: skip
    return [
        {"user_id": users[0], "completion": good},
        {"user_id": users[1], "completion": "not a list"},
        {"user_id": "u_nobody", "completion": good},
        {"user_id": users[2], "completion": ""},
        {"user_id": users[3], "completion": json.dumps(["y" * 200_000] * 5)},  # 1 MB
        {"user_id": users[1], "completion": good},
        {"user_id": users[4], "completion": json.dumps(["news", "sports", "weather", "tv", "x"])},
    ]


@pytest.fixture(scope="module")
def scored(world_dir, users, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scored")
    inp = write_jsonl(tmp / "in.jsonl", completions(users))
    out = tmp / "out.jsonl"
    argv = ["rewards", "--world", str(world_dir), "--completions", str(inp), "--out", str(out),
            "--unknown-users", "floor", "--batch-size", "3",
            "--cache-dir", str(tmp / "news_cache")]  # fmt: skip
    assert main(argv) == 0
    return inp, out, argv


def test_one_line_per_input_line_in_order(scored, users, capsys):
    inp, out, _ = scored
    lines = [json.loads(t) for t in out.read_text().splitlines()]
    want = completions(users)
    assert [r["line"] for r in lines] == list(range(1, len(want) + 1))
    assert [r["user_id"] for r in lines] == [w["user_id"] for w in want]
    for r in lines:
        assert set(r["raw"]) == set(SIGNALS) == set(r["norm"])
    valid = [r["valid"] for r in lines]
    assert valid == [True, False, False, False, False, True, True]
    assert lines[2]["error"] == "unknown user" and lines[3]["reason"] == "empty output"
    assert lines[0]["total"] > lines[6]["total"] > 0 == lines[1]["total"] == lines[4]["total"]
    # a line's score does not depend on the batch it was in (fixed normalisation)
    assert lines[0]["raw"]["div"] == pytest.approx(lines[5]["raw"]["div"])
    assert lines[0]["details"]["themes"] and len(lines[0]["details"]["spec_per_query"]) == 5
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["lines"] == 7 and summary["valid"] == 3
    assert summary["judge"] == {"rubric": 3, "floor": 4}


def test_resume_continues_after_the_last_complete_line_with_a_cache_hit(scored):
    inp, out, argv = scored
    full = out.read_text().splitlines()
    partial = Path(f"{out}.partial.jsonl")
    partial.write_text("\n".join(full[:4]) + '\n{"line": 5, "user_')  # torn last line
    argv = [a if a != str(out) else str(partial) for a in argv]
    vecs = out.parent / "news_cache" / "title_vecs.npy"
    stamp = vecs.stat().st_mtime_ns
    assert main(argv + ["--resume"]) == 0
    assert vecs.stat().st_mtime_ns == stamp  # the news embeddings came from the cache
    again = [json.loads(t) for t in partial.read_text().splitlines()]
    # floats to 1e-5: line 6 is embedded in another batch than before, and the encoder's
    # padded width (which depends on the batch) moves float32 sums in the last bits
    assert close(again, [json.loads(t) for t in full])
    summary = json.loads(Path(f"{partial}.summary.json").read_text())
    assert summary["resumed_after_line"] == 4


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"user_id": "u", "completion": "x"}\n{"user_id": "u", "completion": "\xff\xfe"}\n',
         "line 2: not valid UTF-8"),
        (b'{"user_id": "u", "completion": "x"}\n{"user_id": "u"\n', "line 2: not valid JSON"),
        (b'\n\n{"user_id": "u", "completion": 3}\n', "line 3: field 'completion'"),
        (b'["u", "x"]\n', "line 1: expected an object"),
    ],
)  # fmt: skip
def test_bad_files_give_one_clear_error(world_dir, tmp_path, capsys, content, message):
    inp = tmp_path / "bad.jsonl"
    inp.write_bytes(content)
    argv = ["rewards", "--world", str(world_dir), "--completions", str(inp),
            "--out", str(tmp_path / "o.jsonl")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_user_and_bad_flags_raise_before_building(world_dir, users, tmp_path, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", completions(users))
    base = ["rewards", "--world", str(world_dir), "--completions", str(inp),
            "--out", str(tmp_path / "o.jsonl")]  # fmt: skip
    assert main(base) == 2
    assert "line 3: user_id 'u_nobody' is not in the world" in capsys.readouterr().err
    assert main(base + ["--weights", "alignn=1"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert main(base + ["--judge", "llm"]) == 2
    assert "--judge-url" in capsys.readouterr().err
    assert main([*base[:4], str(tmp_path / "missing.jsonl"), *base[5:]]) == 2
    assert "no such completions file" in capsys.readouterr().err


def test_list_length_must_match_the_prompt(world_dir):
    from jaxinterest.data.prompts import PromptConfig
    from jaxinterest.rewards import RewardConfig, build_rewards

    with pytest.raises(ValueError, match="n_queries=3 but the prompt asks for 5"):
        build_rewards(world_dir, RewardConfig(n_queries=3), prompt_cfg=PromptConfig())


def test_help_in_a_subprocess():
    exe = Path(sys.executable).parent / "jaxinterest"
    out = subprocess.run([str(exe), "rewards", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--judge-url" in out.stdout and "--weights" in out.stdout
