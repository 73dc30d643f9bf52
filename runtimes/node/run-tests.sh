#!/usr/bin/env bash
# Used by runtimes/node/test.sh (runtimes/web/test.sh has its own copy, so that folder stands alone): run
# `node --test` on test/*.test.js in the current folder and fail when a test failed or when no test ran.
# Usage (from a runtime's folder): run-tests.sh NAME REQUIRED_NODE_MODULE...
set -euo pipefail
name="$1"; shift
for module in "$@"; do
  if [ ! -d "node_modules/$module" ]; then
    echo "runtimes/$name: dependencies missing; run runtimes/$name/setup.sh first" >&2
    exit 1
  fi
done
shopt -s nullglob
files=(test/*.test.js)
if [ ${#files[@]} -eq 0 ]; then
  echo "runtimes/$name: no test files in runtimes/$name/test" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
node --test --test-reporter=tap "${files[@]}" 2>&1 | tee "$log" || status=$?
# Count passing tests, not test files (node 20 reports a file that declares no test as one passing test).
passed="$(grep -E '^ok [0-9]+ - ' "$log" | grep -v -E '\.test\.js$|# SKIP' | wc -l)"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "runtimes/$name: no test passed" >&2
  exit 1
fi
exit "$status"
