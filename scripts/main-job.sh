#!/usr/bin/env bash
# The main job on the bundled examples: set up; check the flows' formatting; validate and compile
# the example call-center repo for each environment; run its flow tests (every flow at 100% edge
# coverage); plan and apply staging to its local target, then plan again: no changes. Compiled
# flows land in build/<env>/.
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
echo "== ccc plan examples --env staging, then apply it to the local target (examples/.ccc/runtime/staging)"
ccc plan examples --env staging
ccc apply examples --env staging --auto-approve
echo "== ccc plan examples --env staging --detailed-exitcode (0: the target runs what the repo says)"
ccc plan examples --env staging --detailed-exitcode
