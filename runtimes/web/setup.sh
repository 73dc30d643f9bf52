#!/usr/bin/env bash
# Install the page's pinned dependencies (package-lock.json) and Debian's chromium for the headless test.
# Idempotent; run from anywhere. playwright-core never downloads a browser: the test drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "runtimes/web: /usr/bin/chromium is missing; run: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.crsae-installed-lock; then
  echo "runtimes/web: dependencies already installed"
  exit 0
fi
npm ci --no-audit --no-fund
cp package-lock.json node_modules/.crsae-installed-lock
