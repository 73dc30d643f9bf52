#!/usr/bin/env bash
# Install crsae-node's pinned dependencies (package-lock.json). Idempotent; run from anywhere.
# ONNXRUNTIME_NODE_INSTALL=skip stops onnxruntime-node's postinstall from downloading the CUDA
# binaries (the CPU build ships inside the npm package); .npmrc says the same for plain `npm ci`.
# It also puts every locked package (metadata and tarball) in the npm cache, so that test/pack.test.js can
# install the packed package into an empty folder with `npm install --offline`.
set -euo pipefail
cd "$(dirname "$0")"
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.crsae-installed-lock; then
  echo "runtimes/node: dependencies already installed"
  exit 0
fi
npm ci --no-audit --no-fund
# name@version of every package in the lockfile, for the offline install of the packed package.
mapfile -t locked < <(node -e '
  const lock = require("./package-lock.json");
  for (const [path, p] of Object.entries(lock.packages)) {
    if (path.startsWith("node_modules/") && !p.link) console.log(`${path.slice(path.lastIndexOf("node_modules/") + 13)}@${p.version}`);
  }')
npm cache add "${locked[@]}" 2>&1 | grep -v 'Unknown project config' || true
cp package-lock.json node_modules/.crsae-installed-lock
