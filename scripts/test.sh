#!/usr/bin/env bash
# The test command: set up, then lint (ruff), type-check (mypy --strict), install the built wheels
# into a fresh venv and run the examples there, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check ccc_dsl runtime tests bench scripts
echo "== mypy --strict"
mypy -p ccc_dsl -p ccc_runtime
mypy scripts/call.py
echo "== wheel (fresh venv)"
bash scripts/wheel-check.sh
echo "== pytest"
pytest "$@"
