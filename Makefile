# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# torch/torchvision are pinned to the releases this project is tested with
# (x86_64 CUDA build that also runs on the CPU).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PINS)
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m convzoo demo

test: $(STAMP)
	$(PY) -m ruff check convzoo tests benchmarks scripts
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check convzoo tests benchmarks scripts

clean:
	rm -rf $(VENV) build *.egg-info
