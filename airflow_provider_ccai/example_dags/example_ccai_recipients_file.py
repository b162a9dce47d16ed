"""
Every Thursday at 10:00 New York time: upload the offer image and text it to the customers listed in a
CSV file, each with the name of their own city.

The CSV's columns (``mobile``, ``given_name``, ``family_name``, ``city``) are mapped to CCAI's fields with
``column_mapping``; national US numbers are read with ``default_region="US"`` and sent in E.164 form; the
unmapped ``city`` column becomes the ``${city}`` variable (``unmapped_columns="data"``). The campaign takes
the image's file key through the Jinja form of ``xcom_pull``, so the dependency is set with ``>>``.
Parsing this file does no file I/O, no connection lookup and no network I/O. Try it without a CCAI
account against the bundled sandbox (``python -m airflow_provider_ccai.sandbox`` prints the
``AIRFLOW_CONN_CCAI_DEFAULT`` to set).
"""

from __future__ import annotations

from pathlib import Path

import pendulum

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]

ASSETS = Path(__file__).parent / "assets"
OFFER_IMAGE = str(ASSETS / "weekly_offer.png")
CUSTOMERS_CSV = str(ASSETS / "customers.csv")  # fictional 555-01xx numbers; object-storage URIs work too

with DAG(
    dag_id="example_ccai_recipients_file",
    description="MMS offer to the customers of a CSV file through CloudContactAI",
    doc_md=__doc__,
    schedule="0 10 * * THU",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    tags=["example", "ccai"],
) as dag:
    upload = CcaiUploadFileOperator(task_id="upload_offer_image", file_path=OFFER_IMAGE)

    # [START howto_operator_ccai_create_campaign_from_file]
    send = CcaiCreateCampaignOperator(
        task_id="send_city_offer",
        accounts=CUSTOMERS_CSV,
        column_mapping={"phone": "mobile", "firstName": "given_name", "lastName": "family_name"},
        default_region="US",
        unmapped_columns="data",
        title="City offer {{ ds }}",
        message="Hi ${firstName}, this week at our ${city} store: 20% off with this picture. Reply STOP to opt out.",
        picture_file_key="{{ ti.xcom_pull(task_ids='upload_offer_image') }}",
    )
    upload >> send  # the Jinja form does not create the dependency
    # [END howto_operator_ccai_create_campaign_from_file]
