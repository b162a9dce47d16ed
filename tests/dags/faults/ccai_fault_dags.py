"""DAGs the fault-injection suite runs with ``dag.test()``: one upload task, one campaign task, one retry each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from airflow_provider_ccai.example_dags.example_ccai_weekly_mms import OFFER_IMAGE
from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]

#: registered with the secrets masker and logged by each task before it runs; a masked capture would hide it
CANARY, CANARY_LABEL = "ccai-masker-canary-7f3e91d2", "leak-check canary:"


def log_masked_canary(context: Any) -> None:
    """``on_execute_callback``: mask ``CANARY``, then log it through a ``CloudContactHook``'s logger."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook
    from airflow_provider_ccai.version_compat import mask_secret

    mask_secret(CANARY)
    CloudContactHook().log.warning("%s %s", CANARY_LABEL, CANARY)


RECIPIENTS = [
    {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"},
    {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"},
]
DEFAULTS = {"retries": 1, "retry_delay": timedelta(seconds=1), "on_execute_callback": log_masked_canary}
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("ccai_fault_upload", schedule=None, start_date=START, default_args=DEFAULTS):
    CcaiUploadFileOperator(task_id="upload", file_path=OFFER_IMAGE)

with DAG("ccai_fault_campaign", schedule=None, start_date=START, default_args=DEFAULTS):
    CcaiCreateCampaignOperator(
        task_id="send",
        accounts=RECIPIENTS,
        title="Fault drill {{ run_id }}",
        message="Hi ${firstName}, this is a drill",
    )

# Two tasks of one run send the same text; the second's response is lost, so it must find its own campaign.
for dag_id, second_segment in (
    ("ccai_fault_same_text_other_size", RECIPIENTS[:1]),
    (
        "ccai_fault_same_text_same_size",
        [{**row, "phone": row["phone"].replace("+1555555", "+1555556")} for row in RECIPIENTS],
    ),
):
    with DAG(dag_id, schedule=None, start_date=START, default_args=DEFAULTS):
        common = {"title": "Segment drill {{ run_id }}", "message": "Hi ${firstName}, one text per segment"}
        segment_a = CcaiCreateCampaignOperator(task_id="segment_a", accounts=RECIPIENTS, **common)
        segment_b = CcaiCreateCampaignOperator(task_id="segment_b", accounts=second_segment, **common)
        segment_a >> segment_b

# Mapped: one campaign per chunk of recipients; the rendered-template view of each must hide its phones.
with DAG("ccai_mapped_campaign", schedule=None, start_date=START, default_args=DEFAULTS):
    CcaiCreateCampaignOperator.partial(
        task_id="send_chunk",
        title="Chunk drill {{ run_id }} part {{ ti.map_index }}",
        message="Hi ${firstName}, one text per chunk",
    ).expand(accounts=[RECIPIENTS[:1], RECIPIENTS[1:]])

# A mapped upstream task returns one recipient per instance; the campaign takes them all through its
# output, which resolves to a lazy XCom sequence rather than a list.
with DAG("ccai_mapped_audience", schedule=None, start_date=START, default_args=DEFAULTS):

    @task(show_return_value_in_logs=False)
    def recipient(row: dict) -> dict:
        return row

    CcaiCreateCampaignOperator(
        task_id="send",
        accounts=recipient.expand(row=RECIPIENTS),
        title="Mapped audience {{ run_id }}",
        message="Hi ${firstName}, one text for the whole audience",
    )
