#!/usr/bin/env bash
# The main job on the bundled examples: set up; check the flows' formatting; validate and compile
# the example call-center repo for each environment; run its flow tests (every flow at 100% edge
# coverage). Compiled flows land in build/<env>/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ccc fmt --check examples"
ccc fmt --check examples
for env in staging production; do
  echo "== ccc validate examples --env $env"
  ccc validate examples --env "$env"
  echo "== ccc compile examples --env $env -o build/$env"
  ccc compile examples --env "$env" -o "build/$env"
done
echo "== ccc test examples --min-coverage 100"
ccc test examples --min-coverage 100
