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


if __name__ == "__main__":
    sys.exit(main())
