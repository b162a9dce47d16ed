# Two commands do everything on a machine with only Python 3.10+ and make:
#   make demo   - run the example DAG end to end against the bundled CCAI sandbox (Airflow 3.3)
#   make test   - lint, type-check and run every test on Airflow 3.3 and 2.11, and a part of them on 3.1 and 3.2
# Each Airflow version gets .venv/airflow-<minor>, pinned by ci/constraints-airflow-<minor>.txt;
# the virtual environments are reused by later runs.

PYTHON ?= python3
VENV := .venv
UV := $(VENV)/tools/bin/uv
AIRFLOW_MINORS := 3.3 3.2 3.1 2.11
AIRFLOW_3.3 := 3.3.2
AIRFLOW_3.2 := 3.2.2
AIRFLOW_3.1 := 3.1.8
AIRFLOW_2.11 := 2.11.2
# The Pythons each Airflow release installs on (its Requires-Python), oldest first.
PYTHONS_2.11 := 3.10 3.11 3.12
PYTHONS_3.1 := 3.10 3.11 3.12 3.13
PYTHONS_3.2 := 3.10 3.11 3.12 3.13 3.14
PYTHONS_3.3 := 3.10 3.11 3.12 3.13 3.14
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# $(call installed_python,3.X): python3.X on PATH or installed by pyenv, if the machine has it.
installed_python = $(firstword $(foreach candidate,python$(1) $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)),\
	$(shell $(candidate) -c 'import sys; assert "%d.%d" % sys.version_info[:2] == "$(1)"' 2>/dev/null && echo $(candidate))))
# $(call python_for,MINOR): $(PYTHON) if that Airflow release installs on it; else the first Python of its list
# the machine has; else the newest of the list, which uv downloads (e.g. Airflow 2.11 where python3 is 3.13).
python_for = $(if $(filter $(PYTHON_VERSION),$(PYTHONS_$(1))),$(PYTHON),$(or \
	$(firstword $(foreach version,$(PYTHONS_$(1)),$(call installed_python,$(version)))),$(lastword $(PYTHONS_$(1)))))
# Airflow 2.11 runs on the oldest supported Python, 3.10, when the machine has it. `make test` prints each
# environment's Python before its tests.
PYTHON_2.11 ?= $(or $(call installed_python,3.10),$(call python_for,2.11))
MAIN := $(VENV)/airflow-3.3
# Benchmarks only: Airflow 3 no longer brings the HTTP provider, whose HttpOperator parse_cost.py times
# for comparison; it gets its own environment so the test environments stay as CI builds them.
BENCH := $(VENV)/benchmark-airflow-3.3
HTTP_PROVIDER := apache-airflow-providers-http==6.3.0
PYTEST_ARGS ?=
# `make test` runs every test on Airflow 3.3 and 2.11. To stay under 30 minutes on 2 cores it runs less on the
# 3.x releases between them; `make test FULL=1` runs everything there too.
# - 3.1 leaves out the fault-injection, bad-input and demo suites: they drive the provider's own logic through
#   the same dag.test() path as on 3.3 and 2.11, which between them cover both of its retry paths (task state
#   store; the DAG-run lookup that 3.1 and 3.2 use as 2.11 does).
# - 3.2 runs where its differences would show: the provider metadata and the API server's connection form
#   (built from conn-fields since 3.2), the example DAGs under dag.test() and the real scheduler.
PYTEST_ARGS_3.1 = $(if $(FULL),,$(addprefix --ignore=tests/integration/,test_faults.py test_bad_input.py test_demo.py))
PYTEST_ARGS_3.2 = $(if $(FULL),,tests/unit/test_provider_info.py \
	$(addprefix tests/integration/,test_api_server.py test_example_dag.py test_scheduler.py))

.PHONY: demo test lint benchmarks dist clean
.SECONDARY:

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit("$(PYTHON) is Python %d.%d; this project needs 3.10+: run make with PYTHON=python3.X" % sys.version_info[:2] if sys.version_info < (3, 10) else 0)'
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(VENV)/airflow-%/.installed: $(UV) pyproject.toml ci/constraints-airflow-%.txt
	test -x $(VENV)/airflow-$*/bin/python || $(UV) venv --quiet --python $(or $(PYTHON_$*),$(call python_for,$*)) $(VENV)/airflow-$*
	VIRTUAL_ENV=$(VENV)/airflow-$* $(UV) pip install --quiet -e ".[test,lint]" \
		"apache-airflow==$(AIRFLOW_$*)" -c ci/constraints-airflow-$*.txt
	touch $@

demo: $(MAIN)/.installed
	$(MAIN)/bin/python scripts/demo.py

lint: $(MAIN)/.installed
	$(MAIN)/bin/ruff check airflow_provider_ccai tests scripts benchmarks
	$(MAIN)/bin/mypy

test-airflow-%: $(VENV)/airflow-%/.installed
	$(VENV)/airflow-$*/bin/python --version
	$(VENV)/airflow-$*/bin/python -m pytest $(PYTEST_ARGS_$*) $(PYTEST_ARGS)

test: lint $(addprefix test-airflow-,$(AIRFLOW_MINORS))

$(BENCH)/.installed: $(UV) pyproject.toml ci/constraints-airflow-3.3.txt
	test -x $(BENCH)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(BENCH)
	VIRTUAL_ENV=$(BENCH) $(UV) pip install --quiet -e . "apache-airflow==$(AIRFLOW_3.3)" "$(HTTP_PROVIDER)" \
		-c ci/constraints-airflow-3.3.txt
	touch $@

benchmarks: $(BENCH)/.installed $(VENV)/airflow-2.11/.installed
	$(BENCH)/bin/python benchmarks/parse_cost.py
	$(VENV)/airflow-2.11/bin/python benchmarks/parse_cost.py
	$(BENCH)/bin/python benchmarks/recipients_scale.py

# The wheel and sdist to install on an Airflow deployment (dist/), built by uv in an isolated environment.
dist: $(UV)
	$(UV) build --quiet --out-dir dist

clean:
	rm -rf $(VENV)
