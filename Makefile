# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# torch/torchvision are pinned to the releases this project is tested with
# (x86_64 CUDA build that also runs on the CPU).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint venv clean graphviz chromium site

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PINS)
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m convzoo demo

test: $(STAMP) graphviz chromium
	$(PY) -m ruff check convzoo tests benchmarks scripts
	$(PY) -m pytest -q -n auto --maxprocesses 4

lint: $(STAMP)
	$(PY) -m ruff check convzoo tests benchmarks scripts

# Graphviz's `dot` draws `convzoo draw` diagrams: installed with apt-get where we are root, else how to get it.
# Never fails: without `dot` the drawing tests that render files skip, the structure tests still run.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q graphviz >/dev/null 2>&1 || \
	    { timeout 300 apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q graphviz >/dev/null 2>&1; } || \
	    echo "note: apt-get could not install graphviz; convzoo draw will say how to get it"; \
	  else \
	    echo "note: Graphviz's dot is missing (convzoo draw needs it): sudo apt-get install graphviz," \
	         "brew install graphviz, conda install graphviz, or https://graphviz.org/download/"; \
	  fi; }

# Debian's Chromium, which the site's browser tests drive through Playwright (it cannot download its own
# browsers here): installed with apt-get where we are root. Never fails: without it those tests skip, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { timeout 300 apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "note: apt-get could not install chromium; the site's browser tests will skip"; \
	  else \
	    echo "note: Chromium is missing (the site's browser tests skip without it): sudo apt-get install chromium," \
	         "or set CONVZOO_CHROMIUM to a Chromium or Chrome executable"; \
	  fi; }

# The website (MkDocs + Material): open site/index.html, or serve it for search: python -m http.server -d site
site: $(STAMP) graphviz
	$(PY) -m convzoo site -o site

clean:
	rm -rf $(VENV) build *.egg-info
