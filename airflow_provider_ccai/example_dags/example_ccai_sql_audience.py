"""
Every Monday at 09:00 Chicago time: text an appointment reminder to the customers a SQL query selects.

``SQLExecuteQueryOperator`` (Airflow's ``common.sql`` provider) runs the query on the connection
``ccai_example_crm``, any database ``common.sql`` supports. Its rows are tuples, so ``column_mapping``
names positions, and ``default_region="US"`` reads national numbers. The rows reach the campaign task
through XCom (``select_audience.output``) and are validated and normalised to E.164 there before anything
is sent; a bad or repeated phone fails the task naming its row (``on_invalid="skip"`` drops such rows).
The query task does not log its rows (``show_return_value_in_logs=False`` is its default). Parsing this
file does no I/O, no connection lookup and no network I/O. The tests point ``ccai_example_crm`` at a
SQLite file and run the DAG against the bundled sandbox.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]

with DAG(
    dag_id="example_ccai_sql_audience",
    description="SMS reminder to the customers a SQL query selects, through CloudContactAI",
    doc_md=__doc__,
    schedule="0 9 * * MON",
    start_date=pendulum.datetime(2026, 1, 1, tz="America/Chicago"),
    catchup=False,
    tags=["example", "ccai"],
) as dag:
    # [START howto_operator_ccai_create_campaign_from_sql]
    select_audience = SQLExecuteQueryOperator(
        task_id="select_audience",
        conn_id="ccai_example_crm",
        sql="SELECT mobile, first_name, last_name FROM customers WHERE opted_in = 1 ORDER BY id",
    )
    send = CcaiCreateCampaignOperator(
        task_id="send_reminder",
        accounts=select_audience.output,
        column_mapping={"phone": 0, "firstName": 1, "lastName": 2},
        default_region="US",
        title="Appointment reminder {{ ds }}",
        message="Hi ${firstName}, a reminder of your appointment this week. Reply STOP to opt out.",
    )
    # [END howto_operator_ccai_create_campaign_from_sql]
