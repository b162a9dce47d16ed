"""A DAG the real scheduler (and triggerer, for the sensor) runs every minute in tests/integration/test_scheduler.py."""

from __future__ import annotations

import pendulum

from airflow_provider_ccai.example_dags.example_ccai_weekly_mms import OFFER_IMAGE
from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator
from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]

with DAG(
    dag_id="ccai_every_minute",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_runs=1,
):
    upload = CcaiUploadFileOperator(task_id="upload", file_path=OFFER_IMAGE)
    send = CcaiCreateCampaignOperator(
        task_id="send",
        accounts=[{"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"}],
        title="Every minute {{ run_id }}",
        message="Hi ${firstName}, minute {{ ts }}",
        picture_file_key=upload.output,
    )
    CcaiCampaignSensor(task_id="wait", campaign_id=send.output, deferrable=True, poke_interval=1, timeout=120)
