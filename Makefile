# Set-up is part of every target: `make test` and `make demo` create .venv/ when it is missing
# and (re)install the pinned dependencies whenever a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint venv lock clean demo browser

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (the project targets Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint browser
	$(BIN)/python -m pytest

# Debian's Chromium for the browser tests (tests/ui); says loudly when it cannot be installed.
browser:
	@bash tests/ui/install_browser.sh

# Refresh constraints.txt after changing a pin in requirements*.txt.
lock: $(STAMP)
	{ echo "# Full lock of every package installed by requirements.txt + requirements-dev.txt (pip freeze)."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Run the remediation DAG end to end against the local MetaStudio sandbox (see README).
demo: $(STAMP)
	$(BIN)/python include/demo/run_demo.py

# Fuzz every input reader (manifest, mp4, jpeg, png, pdf, zip) for FUZZ_SECONDS each; coverage-guided
# with atheris (Python 3.11+), a plain mutation loop without it. Crashes land in fuzz/crashes/.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: $(STAMP)
	for target in manifest mp4 jpeg png pdf zip; do \
	  $(BIN)/python fuzz/run.py $$target --seconds $(FUZZ_SECONDS) || exit 1; \
	done
