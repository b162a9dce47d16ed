"""
A real scheduler notices a missed Deadline Alert and a real triggerer runs ``CcaiNotifier`` against the sandbox.

API server + scheduler + DAG processor + triggerer, LocalExecutor, on a private copy of the migrated
SQLite database. The DAG's only task sleeps well past its 5-second deadline. Only collected on Airflow 3
(see ``conftest.py``); the wait is bounded and every process started here is stopped.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_DAGS
from tests.integration.airflow_support import (
    private_home,
    process_logs,
    scheduler_environment,
    start_scheduler,
    stop_processes,
)

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "ccai_missed_deadline"
MAX_WAIT_SECONDS = 300
POLL_SECONDS = 2


def _runs(home: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(home / "airflow.db", timeout=10) as db:
            return db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchall()
    except sqlite3.OperationalError:  # database briefly locked by the scheduler
        return []


def test_missed_deadline_texts_on_call_once_from_the_triggerer(airflow_db, tmp_path, sandbox):
    home = tmp_path / "home"
    home.mkdir()
    private_home(airflow_db, home)
    processes = start_scheduler(home, scheduler_environment(home, sandbox, TEST_DAGS / "deadline"), triggerer=True)
    try:
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while time.monotonic() < deadline:
            if sandbox.campaigns() and any(state != "running" for _, state in _runs(home)):
                break
            assert all(process.poll() is None for process in processes), process_logs(home)
            time.sleep(POLL_SECONDS)
    finally:
        stop_processes(processes)

    runs = _runs(home)
    assert len(runs) == 1, f"{runs}\n{process_logs(home)}"
    (run_id, state) = runs[0]
    assert state == "success", process_logs(home)
    (campaign,) = sandbox.campaigns()
    assert campaign["title"] == "Deadline missed"
    assert campaign["message"] == f"Airflow: {DAG_ID} missed its deadline, run {run_id}"
    assert [account["phone"] for account in campaign["accounts"]] == ["+15555550199"]
