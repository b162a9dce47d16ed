"""
Importing the provider's DAG-facing modules must not load heavy libraries: DAG files import them on every parse.

Each check runs in a fresh interpreter. Airflow's own base classes come first: Airflow 3's Task SDK
already loads ``httpx``, Airflow 2.11's ``BaseNotifier`` loads ``requests`` and Airflow 3.1's database
models load ``phonenumbers`` (through ``sqlalchemy_utils``), which the provider cannot avoid; what must not
appear is anything the provider module itself adds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("phonenumbers", "requests", "aiohttp", "httpx", "pandas")
#: Modules DAG files import; each must exist.
MODULES = (
    "airflow_provider_ccai.operators.ccai",
    "airflow_provider_ccai.sensors.ccai",
    "airflow_provider_ccai.notifications.ccai",
)

PROBE = """
import importlib, json, sys

heavy = {heavy!r}
loaded = lambda: {{name.partition(".")[0] for name in sys.modules}} & set(heavy)

from airflow_provider_ccai import version_compat
for base in ("BaseOperator", "BaseSensorOperator", "BaseNotifier", "AirflowException"):
    getattr(version_compat, base)
import airflow.triggers.base

by_airflow = loaded()
importlib.import_module({module!r})
{after}
print(json.dumps({{"by_airflow": sorted(by_airflow), "added": sorted(loaded() - by_airflow)}}))
"""


def probe(module: str, after: str = "") -> dict[str, list[str]]:
    """Import ``module`` in a fresh interpreter; return which heavy libraries Airflow, then the module, loaded."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, module=module, after=after)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, f"importing {module} failed:\n{completed.stderr[-3000:]}"
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_heavy_library(module: str) -> None:
    result = probe(module)

    assert result["added"] == [], f"importing {module} loads {result['added']}"


def test_probe_notices_a_heavy_import() -> None:
    """The check above would see a module that imports a heavy library (the hook, the phone parser)."""
    result = probe(
        "airflow_provider_ccai.hooks.ccai",
        after="from airflow_provider_ccai.utils.recipients import _PhoneNormaliser; _PhoneNormaliser('US')",
    )

    expected = {"requests", "phonenumbers"} - set(result["by_airflow"])
    assert expected  # no Airflow version loads both by itself, so the probe has something to notice
    assert expected <= set(result["added"])


def test_recipients_module_alone_does_not_load_phonenumbers() -> None:
    assert "phonenumbers" not in probe("airflow_provider_ccai.utils.recipients")["added"]


@pytest.mark.parametrize("module", MODULES)
def test_module_does_not_import_the_provider_exceptions(module: str) -> None:
    """The exceptions are imported where raised: loading that module adds 0.15-0.3 ms to every DAG-file parse."""
    code = f"import sys, {module}; sys.exit(1 if 'airflow_provider_ccai.exceptions' in sys.modules else 0)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False)

    assert completed.returncode == 0, f"importing {module} loads the exceptions module\n{completed.stderr[-2000:]}"
