#!/usr/bin/env bash
# Prepare what the crsae C++ runtime builds against. Idempotent; run from anywhere.
#   nlohmann-json3-dev  the JSON library (Debian package; installed with apt-get when missing and run as root)
#   runtimes/cpp/third_party/onnxruntime/ (gitignored):
#     include/  ONNX Runtime's C/C++ headers: from $ONNXRUNTIME_ROOT/include when it has them, else from Debian's
#               libonnxruntime-dev (.deb unpacked, nothing installed)
#     lib/      libonnxruntime.so.X.Y.Z, the first of
#                 1. $ONNXRUNTIME_ROOT/lib (an unpacked onnxruntime release, or any folder with the library)
#                 2. the Python venv's onnxruntime wheel ($VENV, default REPO/.venv): the default for this repo
#                 3. the PyPI onnxruntime wheel itself, no venv needed: $ORT_WHEEL (a .whl file), else
#                    `pip download onnxruntime[==$ORT_VERSION]`, unpacked here
# Env: ONNXRUNTIME_ROOT, VENV, ORT_WHEEL, ORT_VERSION, PYTHON (for pip download; default python3),
#      APT_SUITE (Debian suite for the headers; default trixie).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="$here/third_party/onnxruntime"
venv="${VENV:-$repo/.venv}"
suite="${APT_SUITE:-trixie}"
ort_root="${ONNXRUNTIME_ROOT:-}"
python="${PYTHON:-python3}"

die() { echo "setup.sh: error: $*" >&2; exit 1; }

# --- nlohmann_json: find_package(nlohmann_json 3) must succeed
have_nlohmann() {
  local d
  for d in /usr/share/cmake/nlohmann_json /usr/lib/cmake/nlohmann_json /usr/local/share/cmake/nlohmann_json \
           /usr/local/lib/cmake/nlohmann_json /usr/lib/*/cmake/nlohmann_json; do
    [[ -f "$d/nlohmann_jsonConfig.cmake" ]] && return 0
  done
  return 1
}
if have_nlohmann; then
  echo "nlohmann_json: present"
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  # A fresh machine may have no package lists yet: update once, only when the install needs it.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q nlohmann-json3-dev >/dev/null 2>&1; then
    apt-get update -q >/dev/null || die "apt-get update failed; check access to the Debian mirrors"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nlohmann-json3-dev >/dev/null \
      || die "apt-get install nlohmann-json3-dev failed"
  fi
  have_nlohmann || die "nlohmann-json3-dev is installed but its CMake config is missing"
  echo "nlohmann_json: installed nlohmann-json3-dev"
else
  die "nlohmann_json (CMake package, version 3) not found; run 'sudo apt-get install nlohmann-json3-dev' \
or install it elsewhere and pass -Dnlohmann_json_DIR=DIR to cmake"
fi

# --- headers: $ONNXRUNTIME_ROOT's own, else libonnxruntime-dev from this machine's apt sources if it has the
# package, else from Debian $suite
root_include=""
if [[ -n "$ort_root" ]]; then
  [[ -d "$ort_root" ]] || die "ONNXRUNTIME_ROOT=$ort_root is not a folder"
  for d in "$ort_root/include" "$ort_root/include/onnxruntime" "$ort_root/include/onnxruntime/core/session"; do
    [[ -f "$d/onnxruntime_cxx_api.h" ]] && { root_include="$d"; break; }
  done
fi

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
  basename "$tmp"/libonnxruntime-dev_*.deb > "$dest/include/FROM"
}

[[ -f "$dest/include/FROM_DEB" ]] && mv "$dest/include/FROM_DEB" "$dest/include/FROM"  # older setup.sh
if [[ -n "$root_include" ]]; then
  if [[ "$(cat "$dest/include/FROM" 2>/dev/null)" != "$root_include" ]] \
     || ! diff -rq "$root_include" "$dest/include" -x FROM >/dev/null 2>&1; then
    rm -rf "$dest/include"; mkdir -p "$dest/include"
    cp -r "$root_include/." "$dest/include/"
    echo "$root_include" > "$dest/include/FROM"
  fi
  echo "headers: $root_include"
elif [[ -f "$dest/include/onnxruntime_cxx_api.h" ]] && [[ "$(cat "$dest/include/FROM" 2>/dev/null)" == *.deb ]]; then
  echo "headers: present ($(cat "$dest/include/FROM"))"
else
  fetch_headers
  echo "headers: $(cat "$dest/include/FROM")"
fi
header_api="$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$dest/include/onnxruntime_c_api.h")"

# --- library: libonnxruntime.so.X.Y.Z
newest_so() {  # the highest-versioned libonnxruntime.so.X.Y.Z among the arguments
  local f
  for f in "$@"; do
    if [[ -f "$f" && "$f" =~ /libonnxruntime\.so\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then echo "$f"; fi
  done | sort -V | tail -n1
}

from_wheel() {  # $1: a .whl file -> unpack its libonnxruntime.so.X.Y.Z into $dest/wheel/
  local whl="$1" out="$dest/wheel"
  rm -rf "$out"; mkdir -p "$out"
  if command -v unzip >/dev/null; then
    unzip -q -j -o "$whl" 'onnxruntime/capi/libonnxruntime.so.*' -d "$out" \
      || die "$whl holds no onnxruntime/capi/libonnxruntime.so.*; pass an onnxruntime wheel"
  else
    "$python" - "$whl" "$out" <<'PY' || die "$whl holds no onnxruntime/capi/libonnxruntime.so.*; pass an onnxruntime wheel"
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
names = [n for n in zipfile.ZipFile(whl).namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so.")]
if not names:
    sys.exit(1)
with zipfile.ZipFile(whl) as z:
    for n in names:
        with open(os.path.join(out, os.path.basename(n)), "wb") as f:
            f.write(z.read(n))
PY
  fi
  basename "$whl" > "$out/FROM"
}

if [[ -n "$ort_root" ]]; then
  so="$(newest_so "$ort_root"/lib/libonnxruntime.so.* "$ort_root"/lib64/libonnxruntime.so.* \
                 "$ort_root"/lib/*/libonnxruntime.so.* "$ort_root"/libonnxruntime.so.* "$ort_root"/capi/libonnxruntime.so.*)"
  [[ -n "$so" ]] || die "no libonnxruntime.so.X.Y.Z under ONNXRUNTIME_ROOT=$ort_root (looked in lib/, lib64/, capi/)"
  origin="ONNXRUNTIME_ROOT=$ort_root"
elif [[ -x "$venv/bin/python" ]] && ort_dir="$("$venv/bin/python" -c \
      'import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))' 2>/dev/null)"; then
  so="$(newest_so "$ort_dir"/capi/libonnxruntime.so.*)"
  [[ -n "$so" ]] || die "no libonnxruntime.so.X.Y.Z in $ort_dir/capi; reinstall onnxruntime in $venv"
  origin="the venv $venv"
else
  [[ -x "$venv/bin/python" ]] && echo "note: the venv $venv has no onnxruntime; using the PyPI wheel instead" >&2
  whl="${ORT_WHEEL:-}"
  if [[ -z "$whl" ]]; then
    # No venv: the PyPI wheel itself (the library in it does not depend on the Python version).
    spec="onnxruntime${ORT_VERSION:+==$ORT_VERSION}"
    mkdir -p "$dest/download"
    whl="$(ls "$dest"/download/onnxruntime-${ORT_VERSION:-*}-*.whl 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -z "$whl" ]]; then
      pip=()
      if "$python" -m pip --version >/dev/null 2>&1; then pip=("$python" -m pip)
      elif command -v pip3 >/dev/null; then pip=(pip3)
      elif command -v pip >/dev/null; then pip=(pip)
      else die "no venv at $venv and no pip to download onnxruntime; set VENV, ONNXRUNTIME_ROOT or ORT_WHEEL=/path/onnxruntime-*.whl"
      fi
      "${pip[@]}" download "$spec" --no-deps --only-binary=:all: -d "$dest/download" -q \
        || die "pip download $spec failed; set ORT_WHEEL=/path/onnxruntime-*.whl or ONNXRUNTIME_ROOT"
      whl="$(ls "$dest"/download/onnxruntime-*.whl | sort -V | tail -n1)"
    fi
  fi
  [[ -f "$whl" ]] || die "ORT_WHEEL=$whl is not a file"
  from_wheel "$whl"
  so="$(newest_so "$dest"/wheel/libonnxruntime.so.*)"
  [[ -n "$so" ]] || die "no libonnxruntime.so.X.Y.Z in $whl"
  origin="the wheel $(basename "$whl") (no venv)"
fi

so_name="$(basename "$so")"                       # libonnxruntime.so.1.32.0
so_minor="$(echo "$so_name" | cut -d. -f4)"       # ORT's C API version equals its minor release number
(( header_api <= so_minor )) \
  || die "headers need ORT C API $header_api but $so_name offers only $so_minor; use a newer onnxruntime"

mkdir -p "$dest/lib"
if ! cmp -s "$so" "$dest/lib/$so_name"; then
  rm -f "$dest"/lib/libonnxruntime.so*
  cp "$so" "$dest/lib/$so_name"
fi
ln -sfn "$so_name" "$dest/lib/libonnxruntime.so.1"   # the SONAME
ln -sfn "$so_name" "$dest/lib/libonnxruntime.so"     # the link-time name
echo "$origin" > "$dest/lib/FROM"
echo "library: $so_name from $origin (C API $so_minor; headers use $header_api)"
echo "onnxruntime ready in $dest"
