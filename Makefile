# Set-up and everyday commands. Each target installs what it needs first.
PYTHON ?= python3

.PHONY: install demo test lint

# torch's CPU build first where torch is missing: a bare requirement would pull a
# multi-GB CUDA build. An existing torch (CPU or CUDA) is kept.
install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -e ".[test]"

demo: install
	labtriage audit --demo --out labtriage-demo --force

test: install
	$(PYTHON) -m pytest

lint:
	ruff check src tests
	ruff format --check src tests
