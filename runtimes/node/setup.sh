#!/usr/bin/env bash
# Install crsae-node's pinned dependencies (package-lock.json). Idempotent; run from anywhere.
# ONNXRUNTIME_NODE_INSTALL=skip stops onnxruntime-node's postinstall from downloading the CUDA
# binaries (the CPU build ships inside the npm package); .npmrc says the same for plain `npm ci`.
set -euo pipefail
cd "$(dirname "$0")"
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.crsae-installed-lock; then
  echo "runtimes/node: dependencies already installed"
  exit 0
fi
npm ci --no-audit --no-fund
cp package-lock.json node_modules/.crsae-installed-lock
