"""
Text the on-call phone through CloudContactAI when a task or the whole DAG run fails, and when a run succeeds.

The DAG-level ``on_failure_callback`` sends the default message (DAG, reason, run and log link); the
task-level one sends the default message too (task, run and log link) to the phones of the Airflow
Variable ``ccai_on_call_phones`` (``ON_CALL``'s number when it is not set); the DAG-level
``on_success_callback`` confirms a good run. A plain run succeeds and sends the confirmation; trigger it
with the param ``{"fail": true}`` to make ``flaky_step`` fail and see both failure texts. Parsing this file
does no connection lookup and no network I/O.
"""

from __future__ import annotations

import pendulum

from airflow_provider_ccai.notifications.ccai import CcaiNotifier

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]

ON_CALL = ["+15555550199"]  # fictional 555 number

# [START howto_notifier_ccai]
with DAG(
    dag_id="example_ccai_notifier",
    description="SMS alerts for failed tasks and DAG runs through CloudContactAI",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    on_failure_callback=CcaiNotifier(phones=ON_CALL),
    on_success_callback=CcaiNotifier(
        phones=ON_CALL, message="Airflow: {{ dag.dag_id }} run {{ run_id }} succeeded.", title="Airflow run succeeded"
    ),
    params={"fail": False},
    tags=["example", "ccai"],
) as dag:

    @task(
        on_failure_callback=CcaiNotifier(
            # this week's on-call phones from the Variable ccai_on_call_phones ("+15555550198, +15555550197");
            # the default message: "Airflow: <dag>.<task> failed, run <run id> <log URL>"
            phones="{{ var.value.get('ccai_on_call_phones', '+15555550199') }}",
            title="Airflow task failure",
        )
    )
    def flaky_step(params: dict | None = None) -> None:
        """Fail on purpose when the run's ``fail`` param is true, to show the notifications."""
        if params and params.get("fail"):
            raise RuntimeError("flaky_step failed on purpose")

    flaky_step()
# [END howto_notifier_ccai]
