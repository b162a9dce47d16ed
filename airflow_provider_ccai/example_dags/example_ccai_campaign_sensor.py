"""
Send an SMS campaign, then wait in the triggerer until CloudContactAI has finished sending it.

The sensor takes the campaign id from the create task (``campaign_id=create.output``), frees its worker
slot while it waits (``deferrable=True``), fails if more than 5% of the messages failed, and pushes the
final counts to XCom for the report task. Parsing this file does no connection lookup and no network
I/O. Try it without a CCAI account against the bundled sandbox (``python -m airflow_provider_ccai.sandbox``
prints the ``AIRFLOW_CONN_CCAI_DEFAULT`` to set).
"""

from __future__ import annotations

import pendulum

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator
from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]

with DAG(
    dag_id="example_ccai_campaign_sensor",
    description="Send an SMS campaign through CloudContactAI and wait until it is delivered",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "ccai"],
) as dag:
    create = CcaiCreateCampaignOperator(
        task_id="send_reminder",
        accounts=[
            {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"},
            {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"},
        ],
        title="Appointment reminder {{ run_id }}",  # manual runs: ds is undefined without a logical date
        message="Hi ${firstName}, a reminder of your appointment tomorrow. Reply STOP to opt out.",
    )

    # [START howto_sensor_ccai_campaign]
    wait = CcaiCampaignSensor(
        task_id="wait_until_sent",
        campaign_id=create.output,
        max_error_ratio=0.05,
        deferrable=True,
        poke_interval=2,
        timeout=300,
    )
    # [END howto_sensor_ccai_campaign]

    @task
    def report(stats: dict[str, int]) -> None:
        """Log the final counts the sensor pushed to XCom."""
        print(f"{stats['sentCount']} of {stats['totalCount']} sent, {stats['errorCount']} failed")

    report(wait.output)
