# crsae: `make demo` sets up and runs the main job; `make test` runs every test (Python and the runtimes).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-quick test-python test-runtimes golden bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch (an unpinned torch pulls a multi-GB CUDA build); install your CUDA build first on GPUs.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[cpu,train,test,ray,triton,experiments,spikes]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/crsae demo

test: test-python test-runtimes

test-python: setup
	$(PY) -m pytest

test-quick: setup
	$(PY) -m pytest -m "not slow"

test-runtimes: setup
	bash runtimes/node/setup.sh && bash runtimes/node/test.sh
	bash runtimes/cpp/setup.sh && bash runtimes/cpp/test.sh
	bash runtimes/web/setup.sh && bash runtimes/web/test.sh

golden: setup
	$(PY) -m crsae.exporter.golden

bench: setup
	$(PY) bench/ort_vs_torch.py
