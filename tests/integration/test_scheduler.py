"""
Airflow's own scheduler runs a DAG scheduled every minute, twice, against the sandbox (upload, send, and a
deferrable campaign sensor that waits in a real triggerer); then the first run's campaign task is cleared
with ``airflow tasks clear`` and the scheduler runs it again.

Airflow 3.x: API server (execution API) + scheduler + DAG processor + triggerer, LocalExecutor.
Airflow 2.11: scheduler (with its file processor) + triggerer, SequentialExecutor (the one SQLite allows).
On Airflow 3.3 ``[state_store] clear_on_success`` is on, so the task state store no longer holds what the
first try sent when the task is cleared. The wait is bounded; every process started here is stopped,
descendants included. The sandbox API key, which every process has in its environment, must be in none of
their logs nor the runs' task logs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from tests.conftest import SANDBOX_KEY, TEST_DAGS
from tests.integration.airflow_support import (
    airflow_cli,
    dag_runs,
    has_task_state_store,
    log_texts,
    logs_in_home,
    process_logs,
    query,
    scheduler_environment,
    scheduler_running,
    stop_processes,
    wait_for,
)
from tests.integration.conftest import AIRFLOW_3

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "ccai_every_minute"
DAGS = TEST_DAGS / "scheduled"
MAX_WAIT_SECONDS = 420
POLL_SECONDS = 3


@pytest.fixture
def airflow_processes(scheduler_home: Path, sandbox) -> Iterator[tuple[Path, list[subprocess.Popen], dict[str, str]]]:
    env = {
        **scheduler_environment(scheduler_home, sandbox, DAGS),
        **logs_in_home(scheduler_home),
        "AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS": "True",  # Airflow 3.3+; older versions have no such section
    }
    with scheduler_running(scheduler_home, env, triggerer=True) as processes:
        yield scheduler_home, processes, env


def _task_states(home: Path, run_id: str) -> dict[str, str]:
    rows = query(home, "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", DAG_ID, run_id)
    return dict(rows)


def _clear_send_task(home: Path, env: dict[str, str], run_id: str) -> None:
    """Clear the run's ``send`` task as a user would, with ``airflow tasks clear`` for the run's logical date."""
    date_column = "logical_date" if AIRFLOW_3 else "execution_date"
    sql = f"SELECT {date_column} FROM dag_run WHERE dag_id = ? AND run_id = ?"
    ((logical_date,),) = query(home, sql, DAG_ID, run_id)
    when = pendulum.parse(logical_date, tz="UTC").isoformat()
    # -t is a regex on 2.11 but a substring on 3.3 (SerializedDAG.partial_subset): "send" means the same to both
    output = airflow_cli(env, "tasks", "clear", DAG_ID, "-t", "send", "-s", when, "-e", when, "-y")
    clear_number = "SELECT clear_number FROM dag_run WHERE dag_id = ? AND run_id = ?"
    assert query(home, clear_number, DAG_ID, run_id) == [(1,)], output


def test_scheduler_completes_two_runs_and_a_cleared_campaign_task_sends_nothing(airflow_processes, sandbox):
    home, processes, env = airflow_processes
    runs: list[tuple[str, str]] = []

    def two_finished_or_one_failed() -> bool:
        runs[:] = dag_runs(home, DAG_ID)
        states = [state for _, state in runs]
        return states.count("success") >= 2 or "failed" in states

    wait_for(two_finished_or_one_failed, processes, home, timeout=MAX_WAIT_SECONDS, poll=POLL_SECONDS)
    finished = [run_id for run_id, state in runs if state == "success"]
    assert len(finished) >= 2 and not any(state == "failed" for _, state in runs), f"{runs}\n{process_logs(home)}"
    for run_id in finished[:2]:
        assert _task_states(home, run_id) == {"upload": "success", "send": "success", "wait": "success"}

    requests = sandbox.requests_seen()
    assert len([r for r in requests if r["endpoint"] == "put"]) == 1  # only the first run uploaded
    assert len([r for r in requests if r["endpoint"] == "stored_url"]) >= 2

    first = finished[0]
    if has_task_state_store():  # clear_on_success emptied the store: the cleared try cannot learn from it what was sent
        assert query(home, "SELECT key FROM task_state_store WHERE run_id = ?", first) == []
    _clear_send_task(home, env, first)
    send_state = "SELECT state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'send'"

    def cleared_try_finished() -> bool:
        ((state, try_number),) = query(home, send_state, DAG_ID, first)
        return state in ("success", "failed") and try_number > 1

    wait_for(cleared_try_finished, processes, home, timeout=MAX_WAIT_SECONDS, poll=POLL_SECONDS)
    stop_processes(processes)
    assert query(home, send_state, DAG_ID, first) == [("success", 2)], process_logs(home)

    titles = [campaign["title"] for campaign in sandbox.campaigns()]
    for run_id in finished:
        assert titles.count(f"Every minute {run_id}") == 1  # the cleared task sent nothing again
    (campaign_id,) = [c["id"] for c in sandbox.campaigns() if c["title"] == f"Every minute {first}"]

    logs = log_texts(home)  # process logs, plus task and DAG-parsing logs (kept under home/logs here)
    assert [name for name, text in logs.items() if SANDBOX_KEY in text] == []
    # neither Airflow nor the provider masks phone numbers: this checks what the provider logs
    assert [name for name, text in logs.items() if "5555550101" in text] == []
    (cleared_log,) = [text for name, text in logs.items() if f"/run_id={first}/task_id=send/attempt=2" in name]
    assert f"An earlier try created campaign {campaign_id} (status " in cleared_log
    assert "; not sending again" in cleared_log
    for run_id in finished[:2]:  # the sensor deferred, and its trigger ran in the triggerer until the campaign was sent
        (trigger_log,) = [
            text for name, text in logs.items() if f"/run_id={run_id}/task_id=wait/" in name and ".trigger." in name
        ]
        assert "messages done" in trigger_log and "; finished" in trigger_log
    checked = [text for name, text in logs.items() if any(f"/run_id={run_id}/" in name for run_id in finished[:2])]
    assert len(checked) == 9 and all("CCAI" in text for text in checked)  # the provider's own lines were searched
