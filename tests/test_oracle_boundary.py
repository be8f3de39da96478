"""No oracle leakage: what trains, rewards, cleans or recommends never reaches the latent interests.

The world's `oracle/interests.parquet` bounds the task (eval/oracle.py, eval/ceiling.py); it may
never feed a reward, a training step, the noise classifier or a baseline. This walks the import
graph of those packages (their own files and everything they import inside jaxinterest) and
fails if any of it reaches the oracle readers.
"""

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "jaxinterest"
PROTECTED = ("rewards", "train", "clean", "baselines")
ORACLE_MODULES = {"jaxinterest.eval.oracle", "jaxinterest.eval.ceiling"}
ORACLE_NAMES = {"load_oracle_interests", "oracle_queries", "measure_range"}
# Defining the reader (data/io.py, re-exported by data/__init__.py) and writing the file (the
# generator, data/world*.py) is not reading it.
DEFINERS = {"jaxinterest.data.io", "jaxinterest.data"}
GENERATOR = "jaxinterest.data.world"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _path_of(module: str) -> Path | None:
    base = ROOT.parent.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


@functools.cache
def _imports(path: Path) -> set[str]:
    """jaxinterest modules imported anywhere in the file (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("jaxinterest")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxinterest"):
            out.add(node.module)
            # `from jaxinterest.eval import oracle` imports a submodule
            out |= {
                f"{node.module}.{a.name}" for a in node.names if _path_of(f"{node.module}.{a.name}")
            }
    return {m for m in out if _path_of(m)}


def _closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]
        todo += list(_imports(_path_of(mod)))
    return seen


@functools.cache
def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names


def _protected_modules():
    for pkg in PROTECTED:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield _module_name(path)


def test_protected_packages_exist():
    # the boundary only means something while these packages are where the test looks
    assert (ROOT / "clean").is_dir()
    assert any(True for _ in _protected_modules())


@pytest.mark.parametrize("module", sorted(set(_protected_modules())))
def test_no_oracle_in_import_closure(module):
    closure = _closure(module)
    assert not closure & ORACLE_MODULES, f"{module} reaches {sorted(closure & ORACLE_MODULES)}"
    for mod in sorted(m for m in closure - DEFINERS if not m.startswith(GENERATOR)):
        path = _path_of(mod)
        used = _names_used(path) & ORACLE_NAMES
        assert not used, f"{module} imports {mod}, which uses oracle reader(s) {sorted(used)}"
        text = path.read_text()
        assert "interests.parquet" not in text, f"{mod} ({path}) names oracle/interests.parquet"


def test_checker_catches_a_leak(tmp_path):
    """The walk does see an oracle import two modules away (a check that cannot fail is none)."""
    pkg = tmp_path / "jaxinterest"
    (pkg / "rewards").mkdir(parents=True)
    (pkg / "eval").mkdir()
    for d in (pkg, pkg / "rewards", pkg / "eval"):
        (d / "__init__.py").write_text("")
    (pkg / "eval" / "oracle.py").write_text("X = 1\n")
    (pkg / "eval" / "helper.py").write_text("from jaxinterest.eval import oracle\n")
    (pkg / "rewards" / "r.py").write_text("from jaxinterest.eval.helper import *\n")
    global ROOT
    saved, ROOT = ROOT, pkg
    try:
        assert "jaxinterest.eval.oracle" in _closure("jaxinterest.rewards.r")
    finally:
        ROOT = saved
