"""
The notifier example DAG, triggered with ``{"fail": true}`` beside a real scheduler, texts on-call twice.

The task-level ``on_failure_callback`` runs in the task's process; the DAG-level one runs where Airflow runs
DAG callbacks (the DAG processor on Airflow 3, the scheduler's file processor on 2.11), each looking the
connection up there. Only the example DAG is in the DAG folder; the test unpauses it and triggers one
run, as a user would with the CLI. The wait is bounded; every process started
here is stopped. The sandbox API key must be in none of the processes' logs nor the run's task logs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airflow_provider_ccai.example_dags import example_ccai_notifier
from tests.conftest import SANDBOX_KEY
from tests.integration.airflow_support import (
    airflow_cli,
    dag_runs,
    log_texts,
    logs_in_home,
    process_logs,
    query,
    scheduler_environment,
    scheduler_running,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "example_ccai_notifier"
MAX_WAIT_SECONDS = 300
POLL_SECONDS = 2
RUN_ID = "alerts_under_a_real_scheduler"


def test_failed_run_texts_on_call_from_the_task_and_the_dag_callback(scheduler_home, sandbox, tmp_path: Path):
    home = scheduler_home
    dags = tmp_path / "dags"
    dags.mkdir()
    copy = Path(shutil.copy(example_ccai_notifier.__file__, dags))
    env = {**scheduler_environment(home, sandbox, dags), **logs_in_home(home)}
    with scheduler_running(home, env) as processes:
        # the shared database may already know the DAG (dag.test() of the example): wait for this parse of it
        parsed_here = "SELECT dag_id FROM dag WHERE dag_id = ? AND fileloc = ?"
        wait_for(
            lambda: bool(query(home, parsed_here, DAG_ID, str(copy))),
            processes,
            home,
            timeout=MAX_WAIT_SECONDS,
            poll=POLL_SECONDS,
        )
        assert query(home, parsed_here, DAG_ID, str(copy)), process_logs(home)
        airflow_cli(env, "dags", "unpause", DAG_ID)
        airflow_cli(env, "dags", "trigger", DAG_ID, "--run-id", RUN_ID, "--conf", json.dumps({"fail": True}))
        wait_for(
            lambda: len(sandbox.campaigns()) >= 2 and dict(dag_runs(home, DAG_ID)).get(RUN_ID) == "failed",
            processes,
            home,
            timeout=MAX_WAIT_SECONDS,
            poll=POLL_SECONDS,
        )

    assert dict(dag_runs(home, DAG_ID)).get(RUN_ID) == "failed", process_logs(home)
    sent = sandbox.campaigns()
    alerts = {campaign["title"]: campaign for campaign in sent}
    # one text per callback: no success text, and neither failure texted twice
    assert sorted(campaign["title"] for campaign in sent) == ["Airflow alert", "Airflow task failure"], process_logs(
        home
    )
    task_alert = alerts["Airflow task failure"]["message"]
    # the default message, as a real worker renders it: the task's state by its value, then its log URL
    assert task_alert.startswith(f"Airflow: {DAG_ID}.flaky_step failed, run {RUN_ID} http"), task_alert
    dag_alert = alerts["Airflow alert"]["message"]
    assert dag_alert.startswith(f"Airflow: {DAG_ID} ") and f", run {RUN_ID}" in dag_alert
    assert {account["phone"] for alert in alerts.values() for account in alert["accounts"]} == {"+15555550199"}

    logs = log_texts(home)  # process logs, plus task and DAG-processing logs (kept under home/logs here)
    assert [name for name, text in logs.items() if SANDBOX_KEY in text] == []
    # neither Airflow nor the provider masks phone numbers: this checks what the provider logs
    assert [name for name, text in logs.items() if "5555550199" in text] == []
    assert any("CCAI" in text for name, text in logs.items() if f"/run_id={RUN_ID}/" in name)
    # the DAG-level callback ran where Airflow runs DAG callbacks: DAG processor (3.x) or file processor (2.11)
    dag_processing = [
        text for name, text in logs.items() if name.startswith(("logs/dag_processor/", "logs/scheduler/"))
    ]
    sent = f"Sent CCAI alert campaign {alerts['Airflow alert']['id']} "
    assert any(sent in text for text in dag_processing), process_logs(home)
