"""
Integration modules that only mean something on one Airflow major version are not collected on the other.

Not collected is not skipped: on Airflow 2.11 the webserver builds the connection form from the hook's
Python methods (covered by ``tests/unit/test_provider_info.py``), so the Airflow 3 API-server test has
nothing to check there, and Airflow 2.11 has no Deadline Alerts for the two deadline modules to run. The
version comes from package metadata so that this file imports no Airflow. The ``scheduler_home`` fixture
is shared by the real-scheduler tests.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

AIRFLOW_3 = int(version("apache-airflow").split(".")[0]) >= 3

#: modules that run only on Airflow 3
AIRFLOW_3_ONLY = ["test_api_server.py", "test_deadline_alert.py", "test_scheduler_deadline.py"]

collect_ignore = [] if AIRFLOW_3 else list(AIRFLOW_3_ONLY)


class _NotForThisAirflow(pytest.File):
    """A module that yields no tests (its imports are never run)."""

    def collect(self) -> list[pytest.Item]:
        return []


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """``collect_ignore`` is not consulted for files named on the command line; collect nothing from those either."""
    if not AIRFLOW_3 and module_path.name in AIRFLOW_3_ONLY:
        return _NotForThisAirflow.from_parent(parent, path=module_path)
    return None


@pytest.fixture
def scheduler_home(airflow_db: Path, tmp_path: Path) -> Path:
    """A private copy of the migrated database, so a real scheduler's state does not leak into other tests."""
    from tests.integration.airflow_support import private_home

    home = tmp_path / "home"
    home.mkdir()
    private_home(airflow_db, home)
    return home
