"""
Shared test set-up.

Airflow reads its configuration when first imported, so ``pytest_configure`` points ``AIRFLOW_HOME`` at
a throw-away directory before any test module imports Airflow. Unit tests need no database; tests
marked ``integration`` get a migrated SQLite database from the session fixture ``airflow_db``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = REPO / "airflow_provider_ccai" / "example_dags"
TEST_DAGS = REPO / "tests" / "dags"
CLIENT_ID = "1234"
SANDBOX_KEY = "sandbox-test-key-0123456789"
UNIT_API_URL = "https://core.ccai.test/api"
UNIT_FILES_URL = "https://files.ccai.test"
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
_HOME = Path(tempfile.mkdtemp(prefix="ccai-airflow-home-"))


def pytest_configure(config: pytest.Config) -> None:
    """Give Airflow a private home before anything imports it."""
    os.environ["AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(EXAMPLE_DAGS)
    # Airflow 3's dag.test() runs only DAGs it finds in a bundle: the examples, the fault-suite,
    # bad-input and object-storage DAGs.
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
        [
            {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
            *(
                {"name": f"ccai-{folder}-dags", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(TEST_DAGS / folder)}}
                for folder in ("faults", "bad_input", "storage")
            ),
        ]
    )
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
    os.environ.pop("AIRFLOW_CONN_CCAI_DEFAULT", None)
    # Test traffic stays on loopback, also for the Airflow processes tests start: never via a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = "127.0.0.1,localhost,::1"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


def parse_dag_folder(folder: Path) -> Any:
    """Parse DAG files as the DAG processor does and return the ``DagBag`` (no database needed)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2.11 and 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(folder))


def connection_json(host: str, files_url: str, api_key: str, login: str = CLIENT_ID, **extra: Any) -> str:
    """The ``AIRFLOW_CONN_CCAI_DEFAULT`` value a user would set."""
    return json.dumps(
        {
            "conn_type": "ccai",
            "login": login,
            "password": api_key,
            "host": host,
            "extra": {"files_url": files_url, **extra},
        }
    )


@pytest.fixture
def ccai_conn(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A ``ccai_default`` connection to fake hosts, for unit tests that mock HTTP with ``responses``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_CCAI_DEFAULT", connection_json(UNIT_API_URL, UNIT_FILES_URL, "unit-test-api-key-XYZ")
    )
    return {"api_url": UNIT_API_URL, "files_url": UNIT_FILES_URL, "api_key": "unit-test-api-key-XYZ"}


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The bundled CCAI sandbox on a free loopback port, with ``ccai_default`` pointing at it."""
    from airflow_provider_ccai.sandbox import SandboxServer

    with SandboxServer(SANDBOX_KEY, client_id=CLIENT_ID, send_seconds=1.0) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_CCAI_DEFAULT",
            connection_json(server.api_url, server.base_url, SANDBOX_KEY, timeout=5, connect_timeout=2),
        )
        yield server


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the session's SQLite metadata database once (about 5 s) and return ``AIRFLOW_HOME``."""
    if not (_HOME / ".migrated").exists():
        migrated = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=600,  # bounds a hung migration; a normal one takes seconds
        )
        if migrated.returncode != 0:
            pytest.fail(f"airflow db migrate failed ({migrated.returncode}):\n{migrated.stderr[-3000:]}")
        (_HOME / ".migrated").touch()
    return _HOME
