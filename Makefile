# Set-up is part of every target: `make test`, `make demo` and `make ui` create .venv/ when it is
# missing and (re)install the pinned dependencies whenever a requirements file or a lock changes.
SHELL := /bin/bash

# The Pythons that Airflow 3.3 supports and this project is tested on. The full suite runs on the
# first one found (3.11 unless PYTHON= names another); `make test` runs a fast subset on the others.
SUPPORTED_PYTHONS := 3.11 3.12 3.13 3.10
PYTHON ?= $(shell .ci/find-python $(SUPPORTED_PYTHONS))
ifeq ($(strip $(PYTHON)),)
$(error no supported Python found: looked for Python $(SUPPORTED_PYTHONS) (python3.X on PATH, then pyenv's versions); install one or pass PYTHON=/path/to/python3.X)
endif
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ifeq ($(filter $(PY_VERSION),$(SUPPORTED_PYTHONS)),)
$(error PYTHON=$(PYTHON) does not run or is not a supported Python (found '$(PY_VERSION)'; supported: $(SUPPORTED_PYTHONS)))
endif
OTHER_PYTHONS := $(filter-out $(PY_VERSION),$(SUPPORTED_PYTHONS))

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(PY_VERSION)
REQUIREMENTS := requirements.txt requirements-dev.txt
# Build by-products of the editable installs and wheels. Removed after each: the folders are on
# sys.path (tests, Airflow's plugins folder), and one left by an older layout at the root would
# still announce the provider under the checkout's name, which Airflow refuses.
EGG_INFO := *.egg-info plugins/*.egg-info include/*.egg-info
# The project (sandbox, DAG logic) and the provider distribution, both editable.
EDITABLE := -e . -e distributions/airflow-provider-metastudio

# The fast subset run on the other Pythons: the provider, the remediation logic, DAG integrity and
# one end-to-end DAG run against the sandbox.
SUBSET := tests/metastudio_provider tests/metastudio_remediation tests/dags/test_dag_integrity.py \
	tests/dags/test_remediation_e2e.py::test_remediates_waits_for_review_and_a_second_run_changes_nothing

.PHONY: test test-full test-other-pythons lint venv lock clean demo ui browser dist

venv: $(STAMP)

# The stamp names the Python: with another PYTHON=, .venv is made again with it.
$(STAMP): $(REQUIREMENTS) constraints-$(PY_VERSION).txt pyproject.toml distributions/airflow-provider-metastudio/pyproject.toml
	@echo "Python $(PY_VERSION): $(PYTHON)"
	$(BIN)/python -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(PY_VERSION)")' 2>/dev/null \
	  || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS)) -c constraints-$(PY_VERSION).txt
	rm -rf $(EGG_INFO)
	$(BIN)/python -m pip install --quiet --no-deps $(EDITABLE)
	rm -rf $(EGG_INFO)
	touch $@

# One virtual environment per other Python, installed from that version's lock.
.venv-%/.installed: $(REQUIREMENTS) constraints-%.txt pyproject.toml distributions/airflow-provider-metastudio/pyproject.toml
	python=$$(.ci/find-python $*) && { test -x .venv-$*/bin/python || $$python -m venv .venv-$*; }
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS)) -c constraints-$*.txt
	.venv-$*/bin/python -m pip install --quiet --no-deps $(EDITABLE)
	rm -rf $(EGG_INFO)
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

# What CI runs (.ci/run): ruff, the whole suite on this Python, the fast subset on the others.
test: lint browser test-full test-other-pythons

test-full: $(STAMP)
	$(BIN)/python -m pytest

# A supported Python that is not installed is skipped with a message (CI has all of them).
test-other-pythons:
	@set -e; for version in $(OTHER_PYTHONS); do \
	  if ! .ci/find-python $$version >/dev/null 2>&1; then \
	    echo "!!! Python $$version not found: its fast subset is NOT run"; continue; fi; \
	  echo "=== Python $$version: fast subset (from constraints-$$version.txt)"; \
	  $(MAKE) --no-print-directory .venv-$$version/.installed; \
	  .venv-$$version/bin/python -m pytest -q $(SUBSET); \
	done

# Debian's Chromium for the browser tests (tests/ui); says loudly when it cannot be installed.
browser:
	@bash tests/ui/install_browser.sh

# Regenerate every lock (constraints-3.X.txt) after changing a pin in requirements*.txt. Each keeps
# the pins it had where they still fit; a new Python's lock starts from the full-suite one.
lock:
	@set -e; for version in $(SUPPORTED_PYTHONS); do \
	  python=$$(.ci/find-python $$version); \
	  seed=constraints-$$version.txt; test -f $$seed || seed=constraints-3.11.txt; \
	  $$python .ci/lock.py constraints-$$version.txt --seed $$seed $(REQUIREMENTS); \
	done

# Wheels for an Airflow a team already runs: the provider and the DAG's package (into dist/).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist \
	  distributions/airflow-provider-metastudio distributions/metastudio-remediation-dag
	rm -rf $(EGG_INFO) distributions/*/build
	@ls -1 dist/*.whl

clean:
	rm -rf $(VENV) $(addprefix .venv-,$(SUPPORTED_PYTHONS)) dist build .pytest_cache .ruff_cache

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

# Airflow's UI with the DAG, the sandbox and the demo data on http://127.0.0.1:8080 (or PORT=); Ctrl-C stops it.
ui: $(STAMP)
	$(BIN)/python include/demo/ui.py $(if $(PORT),--port $(PORT))
