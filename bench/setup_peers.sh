#!/usr/bin/env bash
# Separate virtual environment for the peer tools of the issue-6 benchmarks (run by hand, never by the tests):
#   bench/.venv-peers with SPORCO and alphacsc from PyPI, plus crsae itself (editable, no deps), CPU torch 2.13
#   and onnxruntime, so one process can time crsae and its peers on the same data.
# alphacsc 0.4.1 breaks on numpy >= 2.4, hence the numpy pin.
# Usage: bash bench/setup_peers.sh        (then: bench/.venv-peers/bin/python bench/sparse_coding.py ...)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# torch pinned: an unpinned torch pulls a multi-GB CUDA build (here pip finds the local CPU wheel of 2.13.0).
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" "numpy<2.4" "scipy" "onnx" "onnxscript" "onnxruntime" "sporco" "alphacsc==0.4.1" "psutil" "pillow"
"${pip[@]}" --no-deps -e "$root"
"$venv/bin/python" - <<'PY'
import numpy, scipy, torch, onnxruntime, sporco, alphacsc, crsae
print("peers venv ok:", "numpy", numpy.__version__, "torch", torch.__version__, "onnxruntime", onnxruntime.__version__,
      "sporco", sporco.__version__, "alphacsc", alphacsc.__version__)
PY
