#!/usr/bin/env bash
# Fetch ONNX Runtime for the crsae C++ runtime into runtimes/cpp/third_party/onnxruntime/ (gitignored):
#   include/  C/C++ headers from Debian's libonnxruntime-dev (.deb unpacked, nothing installed)
#   lib/      libonnxruntime.so from the repo's Python venv (pip's onnxruntime wheel)
# Idempotent; run from anywhere. Env: VENV (default: REPO/.venv), APT_SUITE (default: trixie).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="$here/third_party/onnxruntime"
venv="${VENV:-$repo/.venv}"
suite="${APT_SUITE:-trixie}"

die() { echo "setup.sh: error: $*" >&2; exit 1; }

# --- headers: libonnxruntime-dev, from this machine's apt sources if it has the package, else from Debian $suite
fetch_headers() {
  local tmp; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  chmod 755 "$tmp"
  local opts=(-q -o APT::Sandbox::User=root)
  if ! apt-cache show libonnxruntime-dev >/dev/null 2>&1; then
    # A private package list: the system's apt sources, lists and caches are left untouched.
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
    echo "deb http://deb.debian.org/debian $suite main" > "$tmp/sources.list"
    opts+=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache")
    apt-get "${opts[@]}" update >/dev/null \
      || die "apt-get update for Debian $suite failed; check network access to deb.debian.org"
  fi
  (cd "$tmp" && apt-get "${opts[@]}" download libonnxruntime-dev >/dev/null) \
    || die "could not download libonnxruntime-dev from Debian $suite; set APT_SUITE to a suite that has it"
  dpkg -x "$tmp"/libonnxruntime-dev_*.deb "$tmp/root"
  rm -rf "$dest/include"; mkdir -p "$dest/include"
  cp -r "$tmp/root/usr/include/onnxruntime/." "$dest/include/"
  basename "$tmp"/libonnxruntime-dev_*.deb > "$dest/include/FROM_DEB"
}

if [[ -f "$dest/include/onnxruntime_cxx_api.h" ]]; then
  echo "headers: present ($(cat "$dest/include/FROM_DEB" 2>/dev/null || echo unknown source))"
else
  fetch_headers
  echo "headers: $(cat "$dest/include/FROM_DEB")"
fi
header_api="$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$dest/include/onnxruntime_c_api.h")"

# --- library: libonnxruntime.so.X.Y.Z from the venv's onnxruntime wheel
[[ -x "$venv/bin/python" ]] || die "no Python venv at $venv; run the repo's setup first or set VENV=/path/to/venv"
ort_dir="$("$venv/bin/python" -c 'import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))' 2>/dev/null)" \
  || die "the venv at $venv has no onnxruntime; run '$venv/bin/pip install onnxruntime'"
so="$(ls "$ort_dir"/capi/libonnxruntime.so.*.*.* 2>/dev/null | head -n1)"
[[ -n "$so" ]] || die "no libonnxruntime.so.X.Y.Z in $ort_dir/capi; reinstall onnxruntime in $venv"
so_name="$(basename "$so")"                       # libonnxruntime.so.1.32.0
so_minor="$(echo "$so_name" | cut -d. -f4)"       # ORT's C API version equals its minor release number
(( header_api <= so_minor )) \
  || die "headers need ORT C API $header_api but $so_name offers only $so_minor; upgrade onnxruntime in $venv"

mkdir -p "$dest/lib"
if ! cmp -s "$so" "$dest/lib/$so_name"; then
  rm -f "$dest"/lib/libonnxruntime.so*
  cp "$so" "$dest/lib/$so_name"
fi
ln -sfn "$so_name" "$dest/lib/libonnxruntime.so.1"   # the SONAME
ln -sfn "$so_name" "$dest/lib/libonnxruntime.so"     # the link-time name
echo "library: $so_name (C API $so_minor; headers use $header_api)"
echo "onnxruntime ready in $dest"
