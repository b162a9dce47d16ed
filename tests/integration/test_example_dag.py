"""The example DAGs, run by real Airflow (``dag.test()``, SQLite) against the bundled sandbox."""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import sqlite3

import pendulum
import pytest

from tests.conftest import CLIENT_ID, EXAMPLE_DAGS
from tests.integration.airflow_support import task_states, xcoms

pytestmark = pytest.mark.integration

IMAGE = EXAMPLE_DAGS / "assets" / "weekly_offer.png"
CUSTOMERS_CSV = EXAMPLE_DAGS / "assets" / "customers.csv"
#: what CCAI must receive for the CSV's rows: numbers in E.164, names mapped, ``city`` as a variable
CSV_ACCOUNTS = [
    {"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550101", "data": {"city": "San Francisco"}},
    {"firstName": "Alan", "lastName": "Turing", "phone": "+12125550102", "data": {"city": "New York"}},
    {"firstName": "Grace", "lastName": "Hopper", "phone": "+13125550103", "data": {"city": "Chicago"}},
]


@pytest.fixture
def weekly_dag(airflow_db, sandbox):
    from airflow_provider_ccai.example_dags.example_ccai_weekly_mms import dag

    return dag


def test_dag_test_uploads_image_and_creates_one_mms_campaign(weekly_dag, sandbox):
    run = weekly_dag.test()

    assert run.state == "success"
    assert {task: state for task, (state, _) in task_states(weekly_dag.dag_id, run.run_id).items()} == {
        "select_customers": "success",
        "upload_offer_image": "success",
        "send_weekly_mms": "success",
    }
    image = IMAGE.read_bytes()
    file_key = f"{CLIENT_ID}/campaign/{hashlib.md5(image).hexdigest()}.png"
    assert sandbox.files() == {
        file_key: {
            "size": len(image),
            "sha256": hashlib.sha256(image).hexdigest(),
            "content_type": "image/png",
            "uploads": 1,
        }
    }
    assert sandbox.file_bytes(file_key) == image

    values = xcoms(weekly_dag.dag_id, run.run_id)
    assert values[("upload_offer_image", "return_value")] == file_key
    [campaign] = sandbox.campaigns()
    assert campaign["pictureFileKey"] == file_key
    assert campaign["message"].startswith("Hi ${firstName}, this week only: ${offer}!")
    assert campaign["forceNewCampaign"] == "true"
    assert [account["firstName"] for account in campaign["accounts"]] == ["Ada", "Alan", "Grace"]
    assert campaign["accounts"][0]["data"] == {"offer": "20% off"}
    assert values[("send_weekly_mms", "return_value")] == campaign["id"]
    pushed = values[("send_weekly_mms", "campaign")]
    assert pushed["id"] == campaign["id"]
    assert pushed["title"] == campaign["title"] and not {"client", "accounts"} & pushed.keys()


def test_second_run_reuses_the_stored_image_and_creates_a_second_campaign(weekly_dag, sandbox):
    first = weekly_dag.test()
    puts_after_first = [r for r in sandbox.requests_seen() if r["endpoint"] == "put"]
    second = weekly_dag.test()

    assert (first.state, second.state) == ("success", "success")
    requests = sandbox.requests_seen()
    assert len([r for r in requests if r["endpoint"] == "put"]) == len(puts_after_first) == 1
    assert len([r for r in requests if r["endpoint"] == "upload_url"]) == 1
    # first run: checked, uploaded, confirmed stored; second run: checked, found stored; and each
    # campaign task checks its picture_file_key once before creating the campaign
    assert len([r for r in requests if r["endpoint"] == "stored_url"]) == 3 + 2
    campaigns = sandbox.campaigns()
    assert len(campaigns) == 2
    assert campaigns[0]["id"] != campaigns[1]["id"]
    assert campaigns[0]["pictureFileKey"] == campaigns[1]["pictureFileKey"]
    assert xcoms(weekly_dag.dag_id, second.run_id)[("send_weekly_mms", "return_value")] in {c["id"] for c in campaigns}


def test_recipients_file_example_sends_the_csv_rows_with_the_pulled_file_key(airflow_db, sandbox):
    from airflow_provider_ccai.example_dags.example_ccai_recipients_file import dag

    with CUSTOMERS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # the asset holds national and E.164 numbers under its own column names
    assert [(r["given_name"], r["family_name"], r["city"]) for r in rows] == [
        (a["firstName"], a["lastName"], a["data"]["city"]) for a in CSV_ACCOUNTS
    ]
    assert [r["mobile"] for r in rows] == ["(415) 555-0101", "212-555-0102", "+13125550103"]

    run = dag.test()

    assert run.state == "success"
    assert {task: state for task, (state, _) in task_states(dag.dag_id, run.run_id).items()} == {
        "upload_offer_image": "success",
        "send_city_offer": "success",
    }
    values = xcoms(dag.dag_id, run.run_id)
    file_key = values[("upload_offer_image", "return_value")]
    image = IMAGE.read_bytes()
    assert file_key == f"{CLIENT_ID}/campaign/{hashlib.md5(image).hexdigest()}.png"
    assert sandbox.file_bytes(file_key) == image
    [campaign] = sandbox.campaigns()
    assert campaign["pictureFileKey"] == file_key  # rendered from "{{ ti.xcom_pull(...) }}"
    assert campaign["accounts"] == CSV_ACCOUNTS
    assert campaign["sandboxWarnings"] == []
    assert campaign["message"].startswith("Hi ${firstName}, this week at our ${city} store:")
    assert campaign["title"] == f"City offer {run.logical_date:%Y-%m-%d}"
    assert values[("send_city_offer", "return_value")] == campaign["id"]


def test_sql_example_texts_the_opted_in_rows_of_its_query(airflow_db, sandbox, tmp_path, monkeypatch, capfd):
    from airflow_provider_ccai.example_dags.example_ccai_sql_audience import dag

    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as db:
        db.execute(
            "CREATE TABLE customers (id INTEGER, mobile TEXT, first_name TEXT, last_name TEXT, opted_in INTEGER)"
        )
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
            [
                (1, "(415) 555-0104", "Ada", "Lovelace", 1),
                (2, "+1 212 555 0105", "Alan", "Turing", 1),
                (3, "312-555-0106", "Grace", "Hopper", 0),  # not opted in: not selected
            ],
        )
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_EXAMPLE_CRM", json.dumps({"conn_type": "sqlite", "host": str(crm)}))

    run = dag.test()

    assert run.state == "success"
    assert {task: state for task, (state, _) in task_states(dag.dag_id, run.run_id).items()} == {
        "select_audience": "success",
        "send_reminder": "success",
    }
    [campaign] = sandbox.campaigns()
    assert campaign["accounts"] == [
        {"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550104"},
        {"firstName": "Alan", "lastName": "Turing", "phone": "+12125550105"},
    ]
    assert campaign["title"] == f"Appointment reminder {run.logical_date:%Y-%m-%d}"
    assert xcoms(dag.dag_id, run.run_id)[("send_reminder", "return_value")] == campaign["id"]
    logged = capfd.readouterr()
    assert "CCAI campaign" in logged.out + logged.err  # the provider's own lines are there, so the check bites
    assert not any(phone in logged.out + logged.err for phone in ("555-0104", "+14155550104", "2125550105"))


def test_sensor_example_waits_in_the_trigger_until_the_campaign_is_sent(airflow_db, sandbox):
    from airflow_provider_ccai.example_dags.example_ccai_campaign_sensor import dag

    run = dag.test()

    assert run.state == "success"
    [campaign] = sandbox.campaigns()
    stats = xcoms(dag.dag_id, run.run_id)[("wait_until_sent", "return_value")]
    assert stats == {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 2, "totalCount": 2}
    assert [r["endpoint"] for r in sandbox.requests_seen()].count("stats") >= 1
    assert campaign["stats"]["sentCount"] == 2


def test_deferrable_sensor_reads_a_connection_stored_in_the_metadata_database(airflow_db, sandbox, monkeypatch):
    """
    The trigger finds a connection made in the UI or with ``airflow connections add``, not only one from the
    environment; on Airflow 3, ``dag.test()`` runs it where only a synchronous lookup sees the database.
    """
    import os

    from airflow.models.connection import Connection  # the metadata-database model, as the UI stores it
    from airflow.utils.session import create_session

    from airflow_provider_ccai.example_dags.example_ccai_campaign_sensor import dag

    stored = Connection(conn_id="ccai_default", uri=None, **_connection_fields(os.environ["AIRFLOW_CONN_CCAI_DEFAULT"]))
    monkeypatch.delenv("AIRFLOW_CONN_CCAI_DEFAULT")
    with create_session() as session:
        session.add(stored)
    try:
        run = dag.test()
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == "ccai_default").delete()

    assert run.state == "success"
    assert xcoms(dag.dag_id, run.run_id)[("wait_until_sent", "return_value")]["sentCount"] == 2
    assert [r["endpoint"] for r in sandbox.requests_seen()].count("stats") >= 1


def _connection_fields(connection_json: str) -> dict[str, str]:
    """Return the ``Connection`` arguments of an ``AIRFLOW_CONN_*`` JSON value."""
    fields = json.loads(connection_json)
    return {
        "conn_type": fields["conn_type"],
        "login": fields["login"],
        "password": fields["password"],
        "host": fields["host"],
        "extra": json.dumps(fields["extra"]),
    }


def test_notifier_example_texts_on_call_on_success_and_on_failure(airflow_db, sandbox, monkeypatch):
    from airflow_provider_ccai.example_dags.example_ccai_notifier import dag

    monkeypatch.setenv("AIRFLOW_VAR_CCAI_ON_CALL_PHONES", "+15555550198, +15555550197")  # the task alert's phones

    good = dag.test()
    assert good.state == "success"
    [confirmation] = sandbox.campaigns()  # the DAG-level on_success_callback
    assert confirmation["message"] == f"Airflow: example_ccai_notifier run {good.run_id} succeeded."
    assert confirmation["title"] == "Airflow run succeeded"
    sandbox.reset()

    failing = dag.test(run_conf={"fail": True})

    assert failing.state == "failed"
    sent = sandbox.campaigns()
    # the task's own on_failure_callback and the DAG-level one, once each; no success text
    assert sorted(alert["title"] for alert in sent) == ["Airflow alert", "Airflow task failure"]
    alerts = {alert["title"]: alert for alert in sent}
    task_alert = alerts["Airflow task failure"]
    assert [account["phone"] for account in task_alert["accounts"]] == ["+15555550198", "+15555550197"]
    # the default message, rendered from what Airflow's task runner passes (state by its value, not its enum)
    assert task_alert["message"].startswith(f"Airflow: example_ccai_notifier.flaky_step failed, run {failing.run_id} ")
    assert task_alert["message"].split()[-1].startswith("http")  # the task's log URL
    assert [account["phone"] for account in alerts["Airflow alert"]["accounts"]] == ["+15555550199"]


def test_scheduled_example_schedules_tomorrow_9am_new_york_and_the_hook_task_reads_it_pending(airflow_db, sandbox):
    from airflow_provider_ccai.example_dags.example_ccai_scheduled_reminder import dag
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    # the run due at the next 17:00 in New York, as the scheduler would start it
    due = pendulum.now("America/New_York").add(days=1).set(hour=17, minute=0, second=0, microsecond=0)
    if due.subtract(days=1) > pendulum.now("America/New_York"):
        due = due.subtract(days=1)
    date_argument = "logical_date" if "logical_date" in inspect.signature(dag.test).parameters else "execution_date"

    run = dag.test(**{date_argument: due.in_timezone("UTC")})

    assert run.state == "success"
    [campaign] = sandbox.campaigns()
    send_at = due.add(days=1).set(hour=9)  # 09:00 New York time the next day, daylight saving included
    assert campaign["scheduledTimestamp"] == send_at.in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss.SSS[Z]")
    assert campaign["scheduledTimezone"] == "UTC"
    assert campaign["title"] == f"Appointment reminders {due.in_timezone('UTC'):%Y-%m-%d}"
    assert campaign["status"] == "PENDING"
    values = xcoms(dag.dag_id, run.run_id)
    assert values[("schedule_reminders", "return_value")] == campaign["id"]
    assert values[("pending_texts", "return_value")] == 2  # read by the hook: nothing sent before its time

    CloudContactHook().cancel_campaign(campaign["id"])  # what the docs tell users to do
    assert sandbox.campaigns() == []
