#!/usr/bin/env bash
# The main job on the bundled examples: set up, then validate the example call-center repo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
for env in staging production; do
  echo "== ccc validate examples --env $env"
  ccc validate examples --env "$env"
done
