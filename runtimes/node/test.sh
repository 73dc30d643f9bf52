#!/usr/bin/env bash
# Run crsae-node's tests (node --test) against export/golden/index.json. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/onnxruntime-node ]; then
  echo "runtimes/node: dependencies missing; run runtimes/node/setup.sh first" >&2
  exit 1
fi
shopt -s nullglob
files=(test/*.test.js)
if [ ${#files[@]} -eq 0 ]; then
  echo "runtimes/node: no test files in runtimes/node/test" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
node --test --test-reporter=tap "${files[@]}" 2>&1 | tee "$log" || status=$?
# Count passing tests, not test files (node 20 reports a file that declares no test as one passing test).
passed="$(grep -E '^ok [0-9]+ - ' "$log" | grep -v -E '\.test\.js$|# SKIP' | wc -l)"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "runtimes/node: no test passed" >&2
  exit 1
fi
exit "$status"
