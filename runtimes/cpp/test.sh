#!/usr/bin/env bash
# Configure, build and test the crsae C++ runtime; exits non-zero on any failure. Run setup.sh first.
# Env: BUILD_DIR (default runtimes/cpp/build), CRSAE_EXPORT_DIR (default: the repo's export/, which must hold
# golden/index.json), JOBS (default: all cores).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${BUILD_DIR:-$here/build}"
export_dir="${CRSAE_EXPORT_DIR:-$here/../../export}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCRSAE_EXPORT_DIR="$(cd "$export_dir" && pwd)" -DCRSAE_REQUIRE_GOLDEN=ON
cmake --build "$build" --parallel "$jobs"
# --no-tests=error: a run that found no test fails (each unit test binary also registers a failing test when it
# lists none, see tests/CMakeLists.txt).
ctest --test-dir "$build" --output-on-failure --parallel "$jobs" --no-tests=error
