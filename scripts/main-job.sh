#!/usr/bin/env bash
# The main job on the bundled examples: set up; check the flows' formatting; validate and compile
# the example call-center repo for each environment; run its flow tests (every flow at 100% edge
# coverage); plan and apply staging to its local target, then plan again: no changes; then a
# real call: `ccc serve` on what was applied, SIPp presses keys, the call record shows the path.
# Compiled flows land in build/<env>/.
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
echo "== a real call: ccc serve on the applied staging bundle; SIPp dials the hotline, presses 1, 1, leaves a voicemail"
rt=examples/.ccc/runtime/staging
tmp=$(mktemp -d)
free_port() { python -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
ccc serve --runtime-dir "$rt" --listen "127.0.0.1:$port" --clock 2026-11-18T10:00:00+08:00 \
  --rtp-ports 47000-47400 --drain-seconds 5 2> "$tmp/serve.log" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.log" && break; sleep 0.1; done
calls_before=$(cat "$rt/records/calls.jsonl" 2>/dev/null | wc -l)
(cd "$tmp" && timeout 40 sipp -sf "$OLDPWD/tests/sip/scenarios/caller_voicemail.xml" "127.0.0.1:$port" \
  -s 4008205678 -key caller 13700000001 -key rtp_port 9 -key codec 8 -key codec_name PCMA \
  -p "$(free_port)" -mp "$(free_port)" -i 127.0.0.1 -mi 127.0.0.1 -m 1 -d 1000 \
  -nostdin -timeout 30s -timeout_error > /dev/null 2> "$tmp/sipp.err") || { cat "$tmp/sipp.err" "$tmp/serve.log"; exit 1; }
kill -TERM "$serve_pid"
wait "$serve_pid"
python - "$rt/records/calls.jsonl" "$calls_before" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
assert len(lines) == 1, f"expected one new call record, got {len(lines)}"
record = json.loads(lines[0])
print(f"call {record['caller']} -> {record['called']}: {record['outcome']}; path {' '.join(record['path'])}")
assert record["outcome"] == "voicemail sales", record
assert record["caller"] == "+8613700000001" and record["called"] == "+864008205678", record
PY
