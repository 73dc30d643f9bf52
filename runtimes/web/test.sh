#!/usr/bin/env bash
# Run the page's tests: a headless Chromium runs every golden vector (export/golden/index.json) in the
# page and saves runtimes/web/screenshot.png. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../node/run-tests.sh web onnxruntime-web playwright-core
