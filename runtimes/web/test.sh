#!/usr/bin/env bash
# Run the page's tests (node --test test/*.test.js): serve.js against hostile requests, and a headless Chromium
# that runs every golden vector (export/golden/index.json) in the page and saves runtimes/web/screenshot.png.
# Fails when a test failed or when no test ran.
set -euo pipefail
cd "$(dirname "$0")"
for module in onnxruntime-web protobufjs crsae-node playwright-core; do
  if [ ! -e "node_modules/$module" ]; then
    echo "runtimes/web: dependencies missing; run runtimes/web/setup.sh first" >&2
    exit 1
  fi
done
shopt -s nullglob
files=(test/*.test.js)
if [ ${#files[@]} -eq 0 ]; then
  echo "runtimes/web: no test files in runtimes/web/test" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
node --test --test-reporter=tap "${files[@]}" 2>&1 | tee "$log" || status=$?
# Count passing tests, not test files (node 20 reports a file that declares no test as one passing test).
passed="$(grep -E '^ok [0-9]+ - ' "$log" | grep -v -E '\.test\.js$|# SKIP' | wc -l)"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "runtimes/web: no test passed" >&2
  exit 1
fi
exit "$status"
