"""
An MMS campaign whose image and recipient list both come from object storage, for
tests/integration/test_connection_and_storage.py.

Both locations are params (``image_uri``, ``recipients_uri``), so one ``dag.test(run_conf=...)`` per
combination of ``file://`` and ``memory://`` URIs runs the templated operators as a scheduled run would.
"""

from __future__ import annotations

import pendulum

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]

DAG_ID = "ccai_object_storage"

with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"image_uri": "", "recipients_uri": ""},
) as dag:
    upload = CcaiUploadFileOperator(task_id="upload_offer_image", file_path="{{ params.image_uri }}")
    CcaiCreateCampaignOperator(
        task_id="send_offer",
        accounts="{{ params.recipients_uri }}",
        title="Offer from object storage {{ run_id }}",
        message="Hi ${firstName}, this week only: 20% off. Reply STOP to opt out.",
        picture_file_key=upload.output,
    )
