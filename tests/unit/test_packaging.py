"""
What a user sees of the package: Airflow's CLI finds it, it ships types, it resolves Airflow names on every
supported version, and the sandbox stays separate.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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


def test_wheel_ships_types_assets_and_entry_points(tmp_path):
    """What pip installs from an index, not the source tree: types, the example DAGs' assets, entry points."""
    import zipfile

    build = "import sys; from hatchling.build import build_wheel; build_wheel(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)], cwd=PACKAGE.parent, capture_output=True, timeout=300, check=True
    )
    [wheel] = tmp_path.glob("airflow_provider_ccai-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        entry_points_text = archive.read(entry_points).decode()
        shipped_image = archive.read("airflow_provider_ccai/example_dags/assets/weekly_offer.png")
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        long_description = archive.read(metadata).decode().partition("\n\n")[2]

    assert {
        "airflow_provider_ccai/py.typed",
        "airflow_provider_ccai/example_dags/assets/customers.csv",
        "airflow_provider_ccai/sandbox/__main__.py",
    } <= names
    assert shipped_image == (PACKAGE / "example_dags" / "assets" / "weekly_offer.png").read_bytes()
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)  # Apache-2.0 asks for its text
    assert "provider_info = airflow_provider_ccai.get_provider_info:get_provider_info" in entry_points_text
    assert "ccai-sandbox = airflow_provider_ccai.sandbox.__main__:main" in entry_points_text
    assert all(name.startswith(("airflow_provider_ccai/", "airflow_provider_ccai-")) for name in names)
    assert not any("__pycache__" in name for name in names)
    # PyPI shows the README on its own: every link in it leaves for a full URL, none is relative to the repository.
    links = re.findall(r"\]\(([^)]*)\)", long_description)
    assert "https://github.com/cloudcontactai/airflow-provider-ccai/blob/main/docs/reliability.md" in links
    assert [link for link in links if not link.startswith("https://")] == []


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


@pytest.fixture
def compat(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``version_compat`` resolving one test name, ``Marker``, from fake modules; its cached value is dropped after."""
    from airflow_provider_ccai import version_compat

    yield version_compat
    vars(version_compat).pop("Marker", None)


def _locate_marker(monkeypatch: pytest.MonkeyPatch, compat: Any, modules: dict[str, Any], airflow_3: bool) -> None:
    monkeypatch.setattr(compat, "_LOCATIONS", {"Marker": tuple(modules)})
    monkeypatch.setattr(compat, "import_module", modules.__getitem__)
    monkeypatch.setattr(compat, "AIRFLOW_V_3_0_PLUS", airflow_3)


@pytest.mark.parametrize("airflow_3", [True, False], ids=["Airflow 3 without the Task SDK name", "Airflow 2.11"])
def test_version_compat_falls_back_to_the_older_module(
    monkeypatch: pytest.MonkeyPatch, compat: Any, airflow_3: bool
) -> None:
    """Airflow 3.1's Task SDK lacks e.g. ``AirflowFailException``: the name then comes from ``airflow.exceptions``."""
    older = object()
    modules = {"airflow.sdk.exceptions": SimpleNamespace(), "airflow.exceptions": SimpleNamespace(Marker=older)}
    _locate_marker(monkeypatch, compat, modules, airflow_3)

    assert compat.Marker is older


def test_version_compat_prefers_the_task_sdk_on_airflow_3(monkeypatch: pytest.MonkeyPatch, compat: Any) -> None:
    newer, older = object(), object()
    modules = {"airflow.sdk": SimpleNamespace(Marker=newer), "airflow.hooks.base": SimpleNamespace(Marker=older)}
    _locate_marker(monkeypatch, compat, modules, airflow_3=True)

    assert compat.Marker is newer


def test_version_compat_exports_every_name_it_resolves_and_each_resolves() -> None:
    from airflow_provider_ccai import version_compat

    assert sorted(version_compat.__all__) == sorted(["AIRFLOW_V_3_0_PLUS", *version_compat._LOCATIONS])
    for name in version_compat.__all__:
        assert getattr(version_compat, name) is not None, name
