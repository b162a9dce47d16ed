"""
Every Monday at 09:00 New York time: upload this week's offer image and text it to the customers an
upstream task selected.

The upload task returns the image's CCAI file key through XCom; the campaign task takes it as
``picture_file_key=upload.output``. Parsing this file does no connection lookup and no network I/O.
Try it without a CCAI account against the bundled sandbox: ``make demo``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]

OFFER_IMAGE = str(Path(__file__).parent / "assets" / "weekly_offer.png")

with DAG(
    dag_id="example_ccai_weekly_mms",
    description="Weekly MMS offer campaign through CloudContactAI",
    schedule="0 9 * * MON",
    start_date=pendulum.datetime(2026, 1, 5, tz="America/New_York"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["example", "ccai"],
) as dag:

    @task(show_return_value_in_logs=False)  # the rows hold phone numbers: keep them out of task logs
    def select_customers() -> list[dict]:
        """Stand-in for the upstream SQL task: the rows of this week's audience (fictional 555 numbers)."""
        return [
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "phone": "+15555550101",
                "data": {"offer": "20% off"},
            },
            {
                "first_name": "Alan",
                "last_name": "Turing",
                "phone": "+15555550102",
                "data": {"offer": "a free coffee"},
            },
            {
                "first_name": "Grace",
                "last_name": "Hopper",
                "phone": "+15555550103",
                "data": {"offer": "2 for 1"},
            },
        ]

    # [START howto_operator_ccai_upload_file]
    upload = CcaiUploadFileOperator(task_id="upload_offer_image", file_path=OFFER_IMAGE)
    # [END howto_operator_ccai_upload_file]

    # [START howto_operator_ccai_create_campaign]
    send = CcaiCreateCampaignOperator(
        task_id="send_weekly_mms",
        accounts=select_customers(),  # rows from an upstream task, a SQL result or a CSV/JSON file
        title="Weekly offer {{ ds }}",
        message="Hi ${firstName}, this week only: ${offer}! Show this picture in store. Reply STOP to opt out.",
        picture_file_key=upload.output,  # the file key the upload task returned
    )
    # [END howto_operator_ccai_create_campaign]
