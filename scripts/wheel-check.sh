#!/usr/bin/env bash
# Install ccc as a user would: build the two wheels (ccc-runtime, ccc-dsl), install them into a
# fresh virtualenv outside the checkout, and run the main job's validate, compile and test there.
# Catches package data or subpackages that only an editable install finds.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel -q --no-deps -w "$work/dist" ./runtime . >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work"/dist/*.whl >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; exit 1; }
cp -r examples "$work/examples"
cd "$work"
venv/bin/python -c "import ccc_runtime, ccc_dsl"
venv/bin/ccc validate examples
venv/bin/ccc compile examples -o "$work/build" >/dev/null
venv/bin/ccc test examples --min-coverage 100 | tail -n 1
venv/bin/ccc init fresh >/dev/null  # templates and schemas are package data
venv/bin/ccc validate fresh
venv/bin/ccc test fresh --min-coverage 100 | tail -n 1
venv/bin/ccc init --example full >/dev/null
venv/bin/ccc validate full
venv/bin/ccc test full --min-coverage 100 | tail -n 1
venv/bin/ccc explain A608 >/dev/null  # the explanations are package data too
venv/bin/python -c "import ccc_dsl.lsp.server"  # pygls is a dependency of the wheel
echo "wheel-check: the installed wheels validate, compile and test the examples and what ccc init writes"
