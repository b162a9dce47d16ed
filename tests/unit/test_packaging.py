"""What a user sees of the package: Airflow's CLI finds it, it ships types, and the sandbox stays separate."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_ccai"
SANDBOX = PACKAGE / "sandbox"


def _airflow(*args: str) -> str:
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), *args], capture_output=True, text=True, timeout=300, check=True)
    return result.stdout


def test_airflow_cli_lists_the_provider_and_its_connection_type():
    assert "airflow-provider-ccai" in _airflow("providers", "list")
    hooks = [line for line in _airflow("providers", "hooks").splitlines() if line.startswith("ccai ")]
    assert len(hooks) == 1
    assert "airflow_provider_ccai.hooks.ccai.CloudContactHook" in hooks[0]
    assert "ccai_conn_id" in hooks[0] and "CloudContactAI" in hooks[0]


def test_package_ships_type_information():
    assert (PACKAGE / "py.typed").is_file()


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(("." * node.level) + node.module)
    return names


@pytest.mark.parametrize("path", sorted(SANDBOX.glob("*.py")), ids=lambda p: p.name)
def test_sandbox_imports_nothing_of_the_provider_or_airflow(path):
    foreign = {
        name
        for name in _imported_modules(path)
        if name.startswith(("airflow", "..")) and not name.startswith("airflow_provider_ccai.sandbox")
    }
    assert foreign == set()


def test_provider_code_never_imports_the_sandbox():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if SANDBOX not in path.parents and any("sandbox" in name for name in _imported_modules(path))
    ]
    assert offenders == []
