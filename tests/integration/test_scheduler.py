"""
Airflow's own scheduler runs a DAG scheduled every minute, twice, against the sandbox.

Airflow 3.3: API server (execution API) + scheduler + DAG processor, LocalExecutor.
Airflow 2.11: scheduler (with its file processor), SequentialExecutor (the one SQLite allows).
The wait is bounded; every process started here is stopped, descendants included.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SANDBOX_KEY, connection_json
from tests.integration.airflow_support import free_port, log_tail, private_home, stop_processes

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "ccai_every_minute"
DAGS = REPO / "tests" / "dags" / "scheduled"
MAX_WAIT_SECONDS = 420
POLL_SECONDS = 3


def _airflow_3() -> bool:
    from airflow import __version__

    return int(__version__.split(".")[0]) >= 3


@pytest.fixture
def scheduler_home(airflow_db: Path, tmp_path: Path) -> Path:
    """A private copy of the migrated database, so the scheduler's state does not leak into other tests."""
    home = tmp_path / "home"
    home.mkdir()
    private_home(airflow_db, home)
    return home


def _environment(home: Path, sandbox) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW_CONN_CCAI_DEFAULT": connection_json(sandbox.api_url, sandbox.base_url, SANDBOX_KEY, timeout=10),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if _airflow_3():
        port = free_port()
        env.update(
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET="scheduler-test-jwt-secret-0123456789abcdef",
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        )
    else:
        env.update(AIRFLOW__CORE__EXECUTOR="SequentialExecutor")
    return env


@pytest.fixture
def airflow_processes(scheduler_home: Path, sandbox) -> Iterator[tuple[Path, list[subprocess.Popen]]]:
    env = _environment(scheduler_home, sandbox)
    airflow = str(Path(sys.executable).parent / "airflow")
    commands = [["scheduler"]]
    if _airflow_3():
        commands = [
            ["api-server", "--host", "127.0.0.1", "--port", env["AIRFLOW__API__PORT"]],
            ["scheduler"],
            ["dag-processor"],
        ]
    processes = []
    for command in commands:
        log = open(scheduler_home / f"{command[0]}.log", "wb")
        processes.append(
            subprocess.Popen([airflow, *command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    try:
        yield scheduler_home, processes
    finally:
        stop_processes(processes)


def _runs(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "airflow.db", timeout=10) as db:
        return db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (DAG_ID,)).fetchall()


def _task_states(home: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db", timeout=10) as db:
        rows = db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
        ).fetchall()
    return dict(rows)


def _logs(home: Path) -> str:
    return "\n".join(f"--- {log.name} ---\n{log_tail(log)}" for log in sorted(home.glob("*.log")))


def test_scheduler_completes_two_runs_and_second_uploads_nothing(airflow_processes, sandbox):
    home, processes = airflow_processes
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    runs: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        try:
            runs = _runs(home)
        except sqlite3.OperationalError:  # database briefly locked by the scheduler
            runs = []
        if [state for _, state in runs].count("success") >= 2 or any(state == "failed" for _, state in runs):
            break
        assert all(process.poll() is None for process in processes), _logs(home)
        time.sleep(POLL_SECONDS)
    stop_processes(processes)

    finished = [run_id for run_id, state in runs if state == "success"]
    assert len(finished) >= 2 and not any(state == "failed" for _, state in runs), f"{runs}\n{_logs(home)}"
    for run_id in finished[:2]:
        assert _task_states(home, run_id) == {"upload": "success", "send": "success"}

    requests = sandbox.requests_seen()
    assert len([r for r in requests if r["endpoint"] == "put"]) == 1  # only the first run uploaded
    assert len([r for r in requests if r["endpoint"] == "stored_url"]) >= 2
    titles = [campaign["title"] for campaign in sandbox.campaigns()]
    for run_id in finished:
        assert titles.count(f"Every minute {run_id}") == 1
