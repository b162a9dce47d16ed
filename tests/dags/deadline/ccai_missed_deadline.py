"""
Two DAGs whose runs miss their Deadline Alerts on purpose, for tests/integration/test_scheduler_deadline.py
(3.1+): ``ccai_missed_deadline`` texts on-call; ``ccai_missed_deadline_broken_alert``'s message cannot render
(``1 / 0``), so its callback fails in the triggerer, which logs the callback's kwargs, phones included.
"""

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

#: the on-call phone of the alert whose message cannot render
BROKEN_ALERT_PHONE = "+15555550177"


def _slow_dag(dag_id: str, notifier_kwargs: dict) -> None:
    """A DAG whose only task outlasts its 5-second deadline, with a CcaiNotifier as the deadline's callback."""
    with DAG(
        dag_id=dag_id,
        schedule="@once",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(seconds=5),
            callback=AsyncCallback(CcaiNotifier, kwargs=notifier_kwargs),
        ),
    ):

        @task
        def slow_step() -> None:
            """Outlast the deadline."""
            time.sleep(SLOW_STEP_SECONDS)

        slow_step()


if HAS_DEADLINE_ALERTS:
    _slow_dag("ccai_missed_deadline", {"phones": ["+15555550199"], "title": "Deadline missed"})
    _slow_dag("ccai_missed_deadline_broken_alert", {"phones": [BROKEN_ALERT_PHONE], "message": "{{ 1 / 0 }}"})
