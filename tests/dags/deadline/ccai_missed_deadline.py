"""A DAG whose run misses its Deadline Alert on purpose, for tests/integration/test_scheduler_deadline.py (3.1+)."""

from __future__ import annotations

import time
from datetime import timedelta

import pendulum

from airflow_provider_ccai.notifications.ccai import CcaiNotifier

try:
    from airflow.sdk import DAG, task
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

    HAS_DEADLINE_ALERTS = True
except ImportError:  # Airflow 2.11 / 3.0
    HAS_DEADLINE_ALERTS = False

#: how long the only task runs; far past the 5-second deadline, short enough for a test
SLOW_STEP_SECONDS = 45

if HAS_DEADLINE_ALERTS:
    with DAG(
        dag_id="ccai_missed_deadline",
        schedule="@once",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(seconds=5),
            callback=AsyncCallback(CcaiNotifier, kwargs={"phones": ["+15555550199"], "title": "Deadline missed"}),
        ),
    ):

        @task
        def slow_step() -> None:
            """Outlast the deadline."""
            time.sleep(SLOW_STEP_SECONDS)

        slow_step()
