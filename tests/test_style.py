"""The code is ruff-formatted and lint-clean (the same check CI runs)."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["jaxinterest", "tests", "bench", "experiments"]


def _ruff():
    exe = Path(sys.executable).parent / "ruff"
    return str(exe) if exe.exists() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff is in the dev extra")
@pytest.mark.parametrize("check", [["format", "--check"], ["check"]])
def test_ruff(check):
    out = subprocess.run([_ruff(), *check, *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _owner_ok(dotted: str, importer: str) -> bool:
    """A private component of `dotted` (e.g. commands._model) may be used only from inside
    the package that owns it; the module itself may use its own names."""
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            owner = ".".join(parts[:i])
            if not (importer == ".".join(parts[: i + 1]) or importer.startswith(owner + ".")):
                return False
    return True


def private_reaches(source: str, module: str, is_package: bool = False) -> list[str]:
    """Uses of another jaxinterest module's `_private` names in `source` (module `module`):
    `from jaxinterest.x import _name`, `from jaxinterest.x._mod import ...` from outside x, and
    `mod._name` / `jaxinterest.x._name` attribute reads through an imported module."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    found, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("jaxinterest"):
                continue
            if not _owner_ok(base, module):
                found.append(f"line {node.lineno}: from {base} import ...")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if _is_module(full):
                    modules[alias.asname or alias.name] = full
                    if not _owner_ok(full, module):
                        found.append(f"line {node.lineno}: from {base} import {alias.name}")
                elif _is_private(alias.name) and base != module:
                    found.append(f"line {node.lineno}: from {base} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jaxinterest"):
                    if not _owner_ok(alias.name, module):
                        found.append(f"line {node.lineno}: import {alias.name}")
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:
                        modules["jaxinterest"] = "jaxinterest"
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, root = [], node
        while isinstance(root, ast.Attribute):
            chain.append(root.attr)
            root = root.value
        if not (isinstance(root, ast.Name) and root.id in modules):
            continue
        prefix = modules[root.id]
        for attr in reversed(chain):
            if not _is_module(prefix):
                break
            if _is_private(attr) and prefix != module:
                found.append(f"line {node.lineno}: {prefix}.{attr}")
                break
            prefix = f"{prefix}.{attr}"
    return sorted(set(found))


def test_private_reach_check_catches_each_form():
    src = (
        "from jaxinterest.data.schema import _np, Problems\n"
        "from jaxinterest.data import schema as S\n"
        "import jaxinterest.data.checks\n"
        "from jaxinterest.commands._model import load_model\n"
        "from . import classifier\n"
        "x = S._np(1) + jaxinterest.data.checks._dups(2) + classifier._fit(3)\n"
        "y = S.SchemaError._private + S.to_numpy(1)\n"  # a class's attribute, a public name
    )
    found = private_reaches(src, "jaxinterest.clean.events")
    assert found == [
        "line 1: from jaxinterest.data.schema import _np",
        "line 4: from jaxinterest.commands._model import ...",
        "line 6: jaxinterest.clean.classifier._fit",
        "line 6: jaxinterest.data.checks._dups",
        "line 6: jaxinterest.data.schema._np",
    ]
    # Inside the owning package a private module is fine; a module may use its own names.
    assert private_reaches(src.splitlines()[3], "jaxinterest.commands.generate") == []
    assert private_reaches("from jaxinterest.x import _a\n", "jaxinterest.x") == []


def test_no_module_reaches_into_another_modules_private_names():
    problems = []
    for path in sorted((ROOT / "jaxinterest").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parent.parts if is_package else rel.parts)
        problems += [f"{rel}.py {p}" for p in private_reaches(path.read_text(), module, is_package)]
    assert not problems, "\n".join(problems)
