# avo: the commands a user and CI run. Sub-makefiles in make/ (e.g. image.mk, owned by
# the sandbox package) add their targets; they are optional so this file works alone.

PYTHON ?= python
CONFIG ?= avo.yaml

.PHONY: setup demo install test run bench lint docs

# Everything on a fresh machine (Docker engine and daemon, avo, the sandbox image); idempotent.
setup:
	scripts/setup.sh

# Set-up, then the sorting example end to end from its bundled replay transcript.
demo:
	scripts/demo.sh

install:
	$(PYTHON) -m pip install -e '.[dev]'

test:
	$(PYTHON) -m pytest tests -q

run:
	avo run $(CONFIG)

bench:
	$(PYTHON) bench/sandbox_overhead.py
	$(PYTHON) bench/attention_tflops.py
	$(PYTHON) bench/report_build.py
	$(PYTHON) bench/candidate_process.py
	$(PYTHON) bench/parallel_agents.py

# The docs site, strictly: a broken internal link or anchor, a missing page or a page outside
# the table of contents fails it (docs/docs-site.md). tests/docs/ runs the same build.
DOCS_SRC ?= docs
DOCS_OUT ?= build/docs
docs:
	$(PYTHON) -m sphinx -W --keep-going -n -q -b html $(DOCS_SRC) $(DOCS_OUT)

lint:
	$(PYTHON) -m compileall -q avo orchestrator sandbox tests
	@if $(PYTHON) -c "import pyflakes" 2>/dev/null; then $(PYTHON) -m pyflakes avo orchestrator sandbox tests; \
	else echo "pyflakes is not installed (pip install pyflakes): ran the syntax check only"; fi

-include make/*.mk
