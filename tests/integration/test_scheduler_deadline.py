"""
A real scheduler notices a missed Deadline Alert and a real triggerer runs ``CcaiNotifier`` against the sandbox.

API server + scheduler + DAG processor + triggerer, LocalExecutor, on a private copy of the migrated
SQLite database. Each DAG's only task sleeps well past its 5-second deadline; one alert texts on-call, the
other's message cannot render, so its callback fails in the triggerer, which logs the callback's kwargs.
Only collected on Airflow 3 (see ``conftest.py``); the wait is bounded and every process started here is
stopped. The sandbox API key must be in none of the processes' logs, above all the triggerer's, which looks
the connection up; on Airflow 3.3+ the failed alert's phone must not be there either (the notifier masks it).
"""

from __future__ import annotations

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from tests.conftest import SANDBOX_KEY, TEST_DAGS
from tests.dags.deadline.ccai_missed_deadline import BROKEN_ALERT_PHONE
from tests.integration.airflow_support import (
    dag_runs,
    log_texts,
    logs_in_home,
    process_logs,
    scheduler_environment,
    scheduler_running,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.scheduler]

DAG_ID = "ccai_missed_deadline"
BROKEN_DAG_ID = "ccai_missed_deadline_broken_alert"
#: from Airflow 3.3 (amask_secret) the notifier masks its phones from the triggerer's event loop
MASKS_IN_TRIGGERER = Version(airflow_version) >= Version("3.3")
MAX_WAIT_SECONDS = 300
POLL_SECONDS = 2


def test_missed_deadline_texts_on_call_once_from_the_triggerer(scheduler_home, sandbox):
    home = scheduler_home
    env = {**scheduler_environment(home, sandbox, TEST_DAGS / "deadline"), **logs_in_home(home)}
    with scheduler_running(home, env, triggerer=True) as processes:
        wait_for(
            lambda: (
                bool(sandbox.campaigns())
                and all(
                    any(state in ("success", "failed") for _, state in dag_runs(home, dag_id))
                    for dag_id in (DAG_ID, BROKEN_DAG_ID)
                )
            ),
            processes,
            home,
            timeout=MAX_WAIT_SECONDS,
            poll=POLL_SECONDS,
        )

    runs = dag_runs(home, DAG_ID)
    assert len(runs) == 1, f"{runs}\n{process_logs(home)}"
    (run_id, state) = runs[0]
    assert state == "success", process_logs(home)
    (campaign,) = sandbox.campaigns()
    assert campaign["title"] == "Deadline missed"
    assert campaign["message"] == f"Airflow: {DAG_ID} missed its deadline, run {run_id}"
    assert [account["phone"] for account in campaign["accounts"]] == ["+15555550199"]

    logs = log_texts(home)  # process logs, plus task and DAG-parsing logs (kept under home/logs here)
    assert [name for name, text in logs.items() if SANDBOX_KEY in text] == []
    # the provider logs no phone number (on 3.3+ it also masks this one in the triggerer, so there this line
    # checks the masking too)
    assert [name for name, text in logs.items() if "5555550199" in text] == []
    assert "Sent CCAI alert campaign" in logs["triggerer.log"]  # the notifier ran there, so its log was searched

    # the broken alert failed in the triggerer, which logged its kwargs, and sent nothing
    assert [state for _, state in dag_runs(home, BROKEN_DAG_ID)] == ["success"], process_logs(home)
    assert "CcaiNotifier; kwargs: {'phones': [" in logs["triggerer.log"]
    assert "ZeroDivisionError" in logs["triggerer.log"]
    if MASKS_IN_TRIGGERER:
        assert "kwargs: {'phones': ['***']" in logs["triggerer.log"]
        assert [name for name, text in logs.items() if BROKEN_ALERT_PHONE[2:] in text] == []
