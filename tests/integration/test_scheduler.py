"""
Airflow's own scheduler runs a DAG scheduled every minute, twice, against the sandbox.

Airflow 3.3: API server (execution API) + scheduler + DAG processor, LocalExecutor.
Airflow 2.11: scheduler (with its file processor), SequentialExecutor (the one SQLite allows).
The wait is bounded; every process started here is stopped, descendants included. The sandbox API key,
which every process has in its environment, must be in none of their logs nor the runs' task logs.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SANDBOX_KEY, TEST_DAGS
from tests.integration.airflow_support import (
    dag_runs,
    log_texts,
    logs_in_home,
    process_logs,
    scheduler_environment,
    start_scheduler,
    stop_processes,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "ccai_every_minute"
DAGS = TEST_DAGS / "scheduled"
MAX_WAIT_SECONDS = 420
POLL_SECONDS = 3


@pytest.fixture
def airflow_processes(scheduler_home: Path, sandbox) -> Iterator[tuple[Path, list[subprocess.Popen]]]:
    env = {**scheduler_environment(scheduler_home, sandbox, DAGS), **logs_in_home(scheduler_home)}
    processes = start_scheduler(scheduler_home, env)
    try:
        yield scheduler_home, processes
    finally:
        stop_processes(processes)


def _task_states(home: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db", timeout=10) as db:
        rows = db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
        ).fetchall()
    return dict(rows)


def test_scheduler_completes_two_runs_and_second_uploads_nothing(airflow_processes, sandbox):
    home, processes = airflow_processes
    runs: list[tuple[str, str]] = []

    def two_finished_or_one_failed() -> bool:
        runs[:] = dag_runs(home, DAG_ID)
        states = [state for _, state in runs]
        return states.count("success") >= 2 or "failed" in states

    wait_for(two_finished_or_one_failed, processes, home, timeout=MAX_WAIT_SECONDS, poll=POLL_SECONDS)
    stop_processes(processes)

    finished = [run_id for run_id, state in runs if state == "success"]
    assert len(finished) >= 2 and not any(state == "failed" for _, state in runs), f"{runs}\n{process_logs(home)}"
    for run_id in finished[:2]:
        assert _task_states(home, run_id) == {"upload": "success", "send": "success"}

    requests = sandbox.requests_seen()
    assert len([r for r in requests if r["endpoint"] == "put"]) == 1  # only the first run uploaded
    assert len([r for r in requests if r["endpoint"] == "stored_url"]) >= 2
    titles = [campaign["title"] for campaign in sandbox.campaigns()]
    for run_id in finished:
        assert titles.count(f"Every minute {run_id}") == 1

    logs = log_texts(home)  # process logs, plus task and DAG-parsing logs (kept under home/logs here)
    assert [name for name, text in logs.items() if SANDBOX_KEY in text] == []
    checked = [text for name, text in logs.items() if any(f"/run_id={run_id}/" in name for run_id in finished[:2])]
    assert len(checked) == 4 and all("CCAI" in text for text in checked)  # the provider's own lines were searched
