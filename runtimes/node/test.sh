#!/usr/bin/env bash
# Run crsae-node's tests (node --test) against export/golden/index.json. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")"
exec bash run-tests.sh node onnxruntime-node protobufjs
