"""
Every afternoon at 17:00 New York time: schedule tomorrow's appointment reminders for 09:00 New York time.

The campaign is created now and sent by CloudContactAI at its ``scheduled_timestamp``, a template that names
the day after the run's ``data_interval_end`` (the moment a scheduled run was due, on Airflow 2.11 and 3.x
alike; on 2.11 a manual run gets the last finished interval, so give it the coming 17:00 as its logical date).
A task of your own then reads the scheduled campaign's counts with ``CloudContactHook`` (the sandbox shows
every text as pending until the send time; CCAI does not document its counts meanwhile). Parsing this file
does no connection lookup and no network I/O. Try it without a CCAI account against the bundled sandbox
(``python -m airflow_provider_ccai.sandbox`` prints the ``AIRFLOW_CONN_CCAI_DEFAULT`` to set).
"""

from __future__ import annotations

import pendulum

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.decorators import task  # type: ignore[no-redef,attr-defined]

with DAG(
    dag_id="example_ccai_scheduled_reminder",
    description="SMS reminders scheduled for 09:00 the next day through CloudContactAI",
    doc_md=__doc__,
    schedule="0 17 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    tags=["example", "ccai"],
) as dag:
    # [START howto_operator_ccai_create_campaign_scheduled]
    schedule_reminders = CcaiCreateCampaignOperator(
        task_id="schedule_reminders",
        accounts=[
            {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"},
            {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"},
        ],
        title="Appointment reminders {{ data_interval_end | ds }}",
        message="Hi ${firstName}, a reminder of your appointment today. Reply STOP to opt out.",
        # 09:00 New York time on the day after the run was due; sent to CCAI as UTC
        scheduled_timestamp="{{ data_interval_end.in_tz('America/New_York').add(days=1) | ds }}T09:00:00",
        scheduled_timezone="America/New_York",
    )
    # [END howto_operator_ccai_create_campaign_scheduled]

    # [START howto_hook_ccai]
    @task
    def pending_texts(campaign_id: int) -> int:
        """Read the scheduled campaign's counts with the hook; its texts wait for their time."""
        from airflow_provider_ccai.hooks.ccai import CloudContactHook  # at run time: keeps DAG parsing cheap

        stats = CloudContactHook("ccai_default", timeout=60).get_campaign_stats(campaign_id)
        print(f"Campaign {campaign_id}: {stats['pendingCount']} of {stats['totalCount']} texts pending")
        return stats["pendingCount"]

    pending_texts(schedule_reminders.output)
    # [END howto_hook_ccai]
