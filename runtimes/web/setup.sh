#!/usr/bin/env bash
# Install the page's pinned dependencies (package-lock.json) and Debian's chromium for the headless test.
# Idempotent; run from anywhere. playwright-core never downloads a browser: the test drives /usr/bin/chromium.
# When chromium is present, apt is not run at all. Otherwise chromium is installed with only what it needs
# (--no-install-recommends: its Recommends pulled udev, hence a systemd upgrade) and without changing an installed
# package: apt-get's --no-upgrade covers only the packages named on the command line, not their dependencies, so
# the install is simulated first and refused when it would upgrade or remove anything already installed.
# Env: APT_ALLOW_UPGRADES=1 installs anyway, upgrading what chromium's dependencies need (named on stderr).
set -euo pipefail
cd "$(dirname "$0")"

# The installed packages a simulated `apt-get install` would upgrade or remove, one "Inst NAME [OLD] (NEW ...)"
# or "Remv NAME [OLD]" line each (apt-get(8), --simulate: a bracket holds the installed version).
changed_installed() {
  grep -E '^(Inst [^ ]+ \[|Remv )' || true
}

if [ -x /usr/bin/chromium ]; then
  echo "runtimes/web: /usr/bin/chromium present; apt not run"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "runtimes/web: /usr/bin/chromium is missing; run: sudo apt-get install -y --no-install-recommends chromium" >&2
    exit 1
  fi
  apt_install=(apt-get install -y -q --no-install-recommends --no-upgrade chromium)
  # The lists first (that changes no installed package): stale ones may name files the mirror no longer has.
  apt-get update -qq \
    || { echo "runtimes/web: apt-get update failed; check access to the Debian mirrors" >&2; exit 1; }
  plan="$("${apt_install[@]}" --simulate)" || { echo "runtimes/web: apt-get cannot install chromium" >&2; exit 1; }
  changed="$(changed_installed <<<"$plan" | awk '{print $2}' | paste -sd' ' -)"
  if [ -n "$changed" ] && [ "${APT_ALLOW_UPGRADES:-}" != 1 ]; then
    echo "runtimes/web: installing chromium would upgrade or remove installed packages ($changed); not done:" \
      "rerun with APT_ALLOW_UPGRADES=1 to allow it, or install chromium yourself" >&2
    exit 1
  fi
  [ -z "$changed" ] || echo "runtimes/web: APT_ALLOW_UPGRADES=1: also upgrading or removing $changed" >&2
  DEBIAN_FRONTEND=noninteractive "${apt_install[@]}"
fi
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.crsae-installed-lock; then
  echo "runtimes/web: dependencies already installed"
  exit 0
fi
npm ci --no-audit --no-fund
cp package-lock.json node_modules/.crsae-installed-lock
