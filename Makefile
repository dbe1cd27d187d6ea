# avo: the commands a user and CI run. Sub-makefiles in make/ (e.g. image.mk, owned by
# the sandbox package) add their targets; they are optional so this file works alone.

PYTHON ?= python
CONFIG ?= avo.yaml

.PHONY: install test run bench lint

install:
	$(PYTHON) -m pip install -e '.[dev]'

test:
	$(PYTHON) -m pytest tests -q

run:
	avo run $(CONFIG)

bench:
	$(PYTHON) bench/sandbox_overhead.py

lint:
	$(PYTHON) -m compileall -q orchestrator sandbox tests
	@if $(PYTHON) -c "import pyflakes" 2>/dev/null; then $(PYTHON) -m pyflakes orchestrator sandbox tests; \
	else echo "pyflakes is not installed (pip install pyflakes): ran the syntax check only"; fi

-include make/*.mk
