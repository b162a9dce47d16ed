"""Example DAGs parse like the DAG processor parses them: no import errors, no connection lookups, no network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_DAGS, parse_dag_folder


@pytest.fixture
def no_lookups_no_network(mocker):
    """Fail loudly on any connection lookup or socket connect while parsing."""
    from airflow_provider_ccai.version_compat import BaseHook

    lookups = mocker.patch.object(BaseHook, "get_connection", side_effect=AssertionError("connection lookup"))
    connects = mocker.patch.object(socket.socket, "connect", side_effect=AssertionError("network at parse"))
    return lookups, connects


def test_example_dags_import_without_errors_lookups_or_network(no_lookups_no_network):
    lookups, connects = no_lookups_no_network
    bag = parse_dag_folder(EXAMPLE_DAGS)

    assert bag.import_errors == {}
    assert {
        "example_ccai_weekly_mms",
        "example_ccai_recipients_file",
        "example_ccai_sql_audience",
        "example_ccai_scheduled_reminder",
        "example_ccai_campaign_sensor",
        "example_ccai_notifier",
    } <= set(bag.dag_ids)
    assert lookups.call_count == 0
    assert connects.call_count == 0


def test_weekly_dag_chains_upload_into_campaign():
    bag = parse_dag_folder(EXAMPLE_DAGS)
    dag = bag.dags["example_ccai_weekly_mms"]

    assert (getattr(dag.timetable, "expression", None) or dag.timetable.summary) == "0 9 * * MON"
    assert str(dag.timezone.name) == "America/New_York"
    assert dag.catchup is False
    send = dag.get_task("send_weekly_mms")
    assert send.upstream_task_ids == {"upload_offer_image", "select_customers"}
    assert send.template_ext == ()


def test_recipients_file_dag_reads_the_packaged_csv_and_pulls_the_file_key_with_jinja():
    bag = parse_dag_folder(EXAMPLE_DAGS)
    dag = bag.dags["example_ccai_recipients_file"]

    assert dag.catchup is False
    assert "example" in dag.tags
    send = dag.get_task("send_city_offer")
    # the Jinja xcom_pull creates no dependency: the DAG sets it with >>
    assert send.upstream_task_ids == {"upload_offer_image"}
    assert send.picture_file_key == "{{ ti.xcom_pull(task_ids='upload_offer_image') }}"
    csv_path = Path(send.accounts)
    assert csv_path == EXAMPLE_DAGS / "assets" / "customers.csv"  # found next to the DAG file, not via the cwd
    assert csv_path.is_file()
    assert csv_path.read_text(encoding="utf-8").splitlines()[0] == "mobile,given_name,family_name,city"
    assert send.column_mapping == {"phone": "mobile", "firstName": "given_name", "lastName": "family_name"}
    assert (send.default_region, send.unmapped_columns) == ("US", "data")
    assert "${city}" in send.message
    assert send.template_ext == ()
