# Two commands do all the set-up: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch lies on this machine's disk; a GPU machine can override TORCH.
TORCH ?= torch==2.13.0

.PHONY: demo test test-all bench clean

$(VENV)/.installed: pyproject.toml plugins/pgmdbn-units/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q -e plugins/pgmdbn-units
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/pgmdbn demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -n auto --dist worksteal

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ''

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/bench_rbm.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
