# `make demo`, `make test` and `make bench` build .venv on first use (Python 3.11, PyPI only).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[torch,plot,dev,distributed,cuda,triton,diffusers]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sdekit demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --runslow

# Every CPU benchmark suite at full size (benchmarks/: peers, cpu, latency; about an hour on 2 cores).
# Installs the optional peers (JAX, diffrax) first. Writes benchmarks/results/*.json and docs/benchmarks.md.
bench: $(STAMP)
	-$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(BIN)/python -m sdekit.cli bench all

clean:
	rm -rf $(VENV) demo_out .pytest_cache .hypothesis
