"""
Text the on-call phone through CloudContactAI when a daily DAG run misses its deadline.

A Deadline Alert (Airflow 3.1+) fires when the run is not finished one hour after it was queued. Its
``AsyncCallback`` runs ``CcaiNotifier`` in the triggerer, which sends the default message
("Airflow: <dag> missed its deadline, run <run id>"). On Airflow 2.11 and 3.0, which have no Deadline
Alerts, this file defines no DAG. Parsing it does no connection lookup and no network I/O.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airflow_provider_ccai.notifications.ccai import CcaiNotifier

try:  # airflow.sdk re-exports these from Airflow 3.2; this path works from 3.1
    from airflow.sdk import DAG, task
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference

    HAS_DEADLINE_ALERTS = True
except ImportError:  # Airflow 2.11 / 3.0: no Deadline Alerts
    HAS_DEADLINE_ALERTS = False

ON_CALL = ["+15555550199"]  # fictional 555 number

if HAS_DEADLINE_ALERTS:
    # [START howto_notifier_ccai_deadline]
    with DAG(
        dag_id="example_ccai_deadline_alert",
        description="SMS to on-call through CloudContactAI when the nightly load runs late",
        schedule="0 5 * * *",
        start_date=pendulum.datetime(2026, 1, 1, tz="Europe/London"),
        catchup=False,
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=1),
            callback=AsyncCallback(CcaiNotifier, kwargs={"phones": ON_CALL}),
        ),
        tags=["example", "ccai"],
    ) as dag:

        @task
        def nightly_load() -> None:
            """Stand-in for the real work the deadline watches."""

        nightly_load()
    # [END howto_notifier_ccai_deadline]
