"""
One DAG, ``ccai_bad_input``, whose every task is an operator given one bad input; the bad-input suite
(tests/integration/test_bad_input.py) runs it with ``dag.test()``. Each task has two retries that it
must not use, but the missing connection's. Files are read from ``dag_run.conf["tmp"]``, which the test
fills; each task's failure callback writes what it raised to ``<tmp>/errors/<task id>.json`` for the test
to read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]

DAG_ID = "ccai_bad_input"
TMP = "{{ dag_run.conf['tmp'] }}"
ADA = {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"}
ALAN = {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"}


@dataclass(frozen=True)
class Case:
    """
    An operator, the bad argument, what the error must name, the connection fields to spoil, and whether
    Airflow retries the failure (only what a retry may fix: a "missing" connection may be an unreachable
    secrets backend).
    """

    name: str
    operator: str
    kwargs: dict[str, Any]
    names: str
    connection: dict[str, Any] = field(default_factory=dict)
    retried: bool = False

    @property
    def task_id(self) -> str:
        return re.sub(r"\W+", "_", self.name).strip("_")

    @property
    def conn_id(self) -> str:
        """The connection the task uses: its own when the case spoils connection fields."""
        return f"ccai_{self.task_id}" if self.connection else self.kwargs.get("ccai_conn_id", "ccai_default")


IN_AN_HOUR = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
CAMPAIGN = {"accounts": [ADA, ALAN], "message": "Hi ${firstName}", "title": "Bad input drill"}

CASES = [
    Case("file missing", "upload", {"file_path": f"{TMP}/missing.png"}, "file_path"),
    Case("file empty", "upload", {"file_path": f"{TMP}/empty.png"}, "file_path"),
    Case("file over 1 MB", "upload", {"file_path": f"{TMP}/big.png"}, "file_path"),
    Case("file not an image (text named .png)", "upload", {"file_path": f"{TMP}/text.png"}, "file_path"),
    Case("file cut short (PNG without its end)", "upload", {"file_path": f"{TMP}/cut.png"}, "file_path"),
    Case("file is a directory", "upload", {"file_path": f"{TMP}/folder"}, "file_path"),
    Case("file_path of the wrong type (int)", "upload", {"file_path": 12345}, "file_path"),
    Case(
        "file_path URI of a scheme no filesystem serves", "upload", {"file_path": "s4://bucket/offer.png"}, "file_path"
    ),
    Case(
        "mime_type contradicts content",
        "upload",
        {"file_path": f"{TMP}/offer.png", "mime_type": "image/gif"},
        "mime_type",
    ),
    Case("file_name with a slash", "upload", {"file_path": f"{TMP}/offer.png", "file_name": "a/b.png"}, "file_name"),
    Case(
        "file_name with a space",
        "upload",
        {"file_path": f"{TMP}/offer.png", "file_name": "summer sale.png"},
        "file_name",
    ),
    Case(
        "file_name with another type's extension",
        "upload",
        {"file_path": f"{TMP}/offer.png", "file_name": "offer.jpg"},
        "file_name",
    ),
    Case(
        "hook_params with an unknown name",
        "upload",
        {"file_path": f"{TMP}/offer.png", "hook_params": {"read_timeout": 60}},
        "hook_params",
    ),
    Case("accounts empty", "campaign", {**CAMPAIGN, "accounts": []}, "accounts"),
    Case("accounts not a list", "campaign", {**CAMPAIGN, "accounts": ADA}, "accounts"),
    Case("accounts malformed text", "campaign", {**CAMPAIGN, "accounts": "[{'firstName': 'Ada',"}, "accounts"),
    Case("accounts text neither list nor file", "campaign", {**CAMPAIGN, "accounts": str(ADA)}, "accounts"),
    Case(
        "accounts CSV without a header line",
        "campaign",
        {**CAMPAIGN, "accounts": f"{TMP}/headerless.csv"},
        "accounts: the first line",
    ),
    Case(
        "accounts CSV not UTF-8",
        "campaign",
        {**CAMPAIGN, "accounts": f"{TMP}/latin1.csv"},
        "is not UTF-8 text",
    ),
    Case(
        "accounts CSV row wider than its header",
        "campaign",
        {**CAMPAIGN, "accounts": f"{TMP}/shifted.csv"},
        "accounts row 1 (row: has 4 fields, the header has 3",
    ),
    Case(
        "row without phone",
        "campaign",
        {**CAMPAIGN, "accounts": [ADA, {"firstName": "A", "lastName": "B"}]},
        "accounts row 2 (phone",
    ),
    Case(
        "phone not E.164", "campaign", {**CAMPAIGN, "accounts": [{**ADA, "phone": "555-0101"}]}, "accounts row 1 (phone"
    ),
    Case(
        "phone with letters (keypad digits)",
        "campaign",
        {**CAMPAIGN, "accounts": [{**ADA, "phone": "+1 555 555 O1O1"}]},
        "accounts row 1 (phone: contains letters",
    ),
    Case(
        "duplicate phone",
        "campaign",
        {**CAMPAIGN, "accounts": [ADA, ALAN, {**ALAN, "firstName": "Al"}]},
        "accounts row 3 (phone: duplicate of row 2",
    ),
    Case(
        "row without firstName",
        "campaign",
        {**CAMPAIGN, "accounts": [{"lastName": "B", "phone": "+15555550101"}]},
        "accounts row 1 (firstName",
    ),
    Case(
        "row data not variables",
        "campaign",
        {**CAMPAIGN, "accounts": [{**ADA, "data": {"offer": [1, 2]}}]},
        "accounts row 1 (data.offer",
    ),
    Case("message missing", "campaign", {**CAMPAIGN, "message": None}, "message"),
    Case(
        "message variable from an ignored column",
        "campaign",
        {**CAMPAIGN, "accounts": [{**ADA, "offer": "20% off"}], "message": "Hi ${firstName}: ${offer}"},
        "message: uses ${offer}",
    ),
    Case("title empty", "campaign", {**CAMPAIGN, "title": "  "}, "title"),
    Case(
        "schedule time unparsable",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": "next monday"},
        "scheduled_timestamp",
    ),
    Case(
        "schedule time without zone", "campaign", {**CAMPAIGN, "scheduled_timestamp": IN_AN_HOUR}, "scheduled_timestamp"
    ),
    Case(
        "schedule time in the past",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": "2020-01-01T09:00:00Z"},
        "scheduled_timestamp",
    ),
    Case(
        "schedule time a DST change skips",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": "2099-03-08T02:30:00", "scheduled_timezone": "America/New_York"},
        "scheduled_timestamp",
    ),
    Case(
        "schedule time zone unknown",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": IN_AN_HOUR, "scheduled_timezone": "Mars/Olympus"},
        "scheduled_timezone",
    ),
    Case(
        "schedule time zone a folder of zones",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": IN_AN_HOUR, "scheduled_timezone": "America"},
        "scheduled_timezone",
    ),
    Case(
        "schedule time beyond year 9999 in UTC",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": "9999-12-31T23:00:00-05:00"},
        "scheduled_timestamp",
    ),
    Case("sender_phone not E.164", "campaign", {**CAMPAIGN, "sender_phone": "12345"}, "sender_phone"),
    Case("default_region not a string", "campaign", {**CAMPAIGN, "default_region": 1}, "default_region"),
    Case("column_mapping not a dict", "campaign", {**CAMPAIGN, "column_mapping": ["phone"]}, "column_mapping"),
    Case(
        "picture_file_key of another client",
        "campaign",
        {**CAMPAIGN, "picture_file_key": "9999/campaign/a.png"},
        "picture_file_key",
    ),
    Case(
        "connection missing", "campaign", {**CAMPAIGN, "ccai_conn_id": "ccai_missing"}, "'ccai_missing'", retried=True
    ),
    Case("connection without API key", "campaign", CAMPAIGN, "API key", {"password": ""}),
    Case("connection without client id", "campaign", CAMPAIGN, "client id", {"login": ""}),
    Case(
        "connection API key with a zero-width space",
        "campaign",
        CAMPAIGN,
        "'password' (API Key)",
        {"password": "pasted-key\u200b"},
    ),
    Case("connection with garbage host", "upload", {"file_path": f"{TMP}/offer.png"}, "host", {"host": "not a url"}),
]


def record_failure(context: Any) -> None:
    """``on_failure_callback``: write the exception's type, text and whether it forbids retries."""
    from airflow_provider_ccai.version_compat import AirflowFailException

    error = context.get("exception")
    folder = Path(context["dag_run"].conf["tmp"]) / "errors"
    folder.mkdir(exist_ok=True)
    record = {"type": type(error).__name__, "message": str(error), "no_retry": isinstance(error, AirflowFailException)}
    (folder / f"{context['ti'].task_id}.json").write_text(json.dumps(record))


with DAG(
    DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0), "on_failure_callback": record_failure},
):
    for case in CASES:
        operator_class = CcaiUploadFileOperator if case.operator == "upload" else CcaiCreateCampaignOperator
        operator_class(task_id=case.task_id, **{**case.kwargs, "ccai_conn_id": case.conn_id})
