# Two commands do everything on a machine with only Python 3.10+ and make:
#   make demo   - run the example DAG end to end against the bundled CCAI sandbox (Airflow 3.3)
#   make test   - lint, type-check and run every test on Airflow 3.3 and on Airflow 2.11
# Virtual environments live in .venv/ and are reused by later runs.

PYTHON ?= python3
VENV := .venv
UV := $(VENV)/tools/bin/uv
AIRFLOW_3 := 3.3.2
AIRFLOW_2 := 2.11.2
PYTEST_ARGS ?=

.PHONY: demo test test-airflow3 test-airflow2 lint benchmarks clean

$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

# $(call venv,<dir>,<airflow version>,<constraints file>)
define venv
	test -x $(1)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(1)
	VIRTUAL_ENV=$(1) $(UV) pip install --quiet -e ".[test,lint]" "apache-airflow==$(2)" -c $(3)
endef

$(VENV)/af3/.installed: $(UV) pyproject.toml ci/constraints-airflow-3.3.txt
	$(call venv,$(VENV)/af3,$(AIRFLOW_3),ci/constraints-airflow-3.3.txt)
	touch $@

$(VENV)/af2/.installed: $(UV) pyproject.toml ci/constraints-airflow-2.11.txt
	$(call venv,$(VENV)/af2,$(AIRFLOW_2),ci/constraints-airflow-2.11.txt)
	touch $@

demo: $(VENV)/af3/.installed
	$(VENV)/af3/bin/python scripts/demo.py

lint: $(VENV)/af3/.installed
	$(VENV)/af3/bin/ruff check airflow_provider_ccai tests scripts benchmarks
	$(VENV)/af3/bin/mypy

test-airflow3: $(VENV)/af3/.installed
	$(VENV)/af3/bin/python -m pytest $(PYTEST_ARGS)

test-airflow2: $(VENV)/af2/.installed
	$(VENV)/af2/bin/python -m pytest $(PYTEST_ARGS)

test: lint test-airflow3 test-airflow2

benchmarks: $(VENV)/af3/.installed $(VENV)/af2/.installed
	$(VENV)/af3/bin/python benchmarks/parse_cost.py
	$(VENV)/af2/bin/python benchmarks/parse_cost.py
	$(VENV)/af3/bin/python benchmarks/recipients_scale.py

clean:
	rm -rf $(VENV)
