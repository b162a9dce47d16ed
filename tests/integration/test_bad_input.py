"""
Bad input fails before any request: each case runs an operator against the real sandbox and checks the
error names the field (and row), is final (no Airflow retry), shows no phone number, and that the
sandbox saw nothing. The observed rows are the bad-input table in docs/reliability.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, EXAMPLE_DAGS, SANDBOX_KEY, connection_json
from tests.integration import reliability_report

pytestmark = pytest.mark.integration

PNG = (EXAMPLE_DAGS / "assets" / "weekly_offer.png").read_bytes()
ADA = {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"}
ALAN = {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"}
PHONE_SHAPED = re.compile(r"\+?\d{7,}")


@dataclass(frozen=True)
class Case:
    """An operator, the bad argument, and what the error must name."""

    name: str
    operator: str
    kwargs: dict[str, Any]
    names: str
    connection: dict[str, Any] = field(default_factory=dict)


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "big.png").write_bytes(PNG[:16] + b"\0" * (1_048_577 - 16))
    (tmp / "text.png").write_text("this is not an image")
    (tmp / "offer.png").write_bytes(PNG)
    (tmp / "folder").mkdir()
    (tmp / "headerless.csv").write_text("Ada,Lovelace,+15555550101\n")
    (tmp / "latin1.csv").write_bytes("firstName,lastName,phone\nJos\xe9,Lovelace,+15555550101\n".encode("latin-1"))
    return {name: str(tmp / name) for name in ("empty.png", "big.png", "text.png", "offer.png", "folder")}


IN_AN_HOUR = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
CAMPAIGN = {"accounts": [ADA, ALAN], "message": "Hi ${firstName}", "title": "Bad input drill"}

CASES = [
    Case("file missing", "upload", {"file_path": "{tmp}/missing.png"}, "file_path"),
    Case("file empty", "upload", {"file_path": "{tmp}/empty.png"}, "file_path"),
    Case("file over 1 MB", "upload", {"file_path": "{tmp}/big.png"}, "file_path"),
    Case("file not an image (text named .png)", "upload", {"file_path": "{tmp}/text.png"}, "file_path"),
    Case("file is a directory", "upload", {"file_path": "{tmp}/folder"}, "file_path"),
    Case("file_path of the wrong type (int)", "upload", {"file_path": 12345}, "file_path"),
    Case(
        "mime_type contradicts content",
        "upload",
        {"file_path": "{tmp}/offer.png", "mime_type": "image/gif"},
        "mime_type",
    ),
    Case("file_name with a slash", "upload", {"file_path": "{tmp}/offer.png", "file_name": "a/b.png"}, "file_name"),
    Case("accounts empty", "campaign", {**CAMPAIGN, "accounts": []}, "accounts"),
    Case("accounts not a list", "campaign", {**CAMPAIGN, "accounts": ADA}, "accounts"),
    Case("accounts malformed text", "campaign", {**CAMPAIGN, "accounts": "[{'firstName': 'Ada',"}, "accounts"),
    Case("accounts text neither list nor file", "campaign", {**CAMPAIGN, "accounts": str(ADA)}, "accounts"),
    Case(
        "accounts CSV without a header line",
        "campaign",
        {**CAMPAIGN, "accounts": "{tmp}/headerless.csv"},
        "accounts: the first line",
    ),
    Case(
        "accounts CSV not UTF-8",
        "campaign",
        {**CAMPAIGN, "accounts": "{tmp}/latin1.csv"},
        "is not UTF-8 text",
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
        "schedule time zone unknown",
        "campaign",
        {**CAMPAIGN, "scheduled_timestamp": IN_AN_HOUR, "scheduled_timezone": "Mars/Olympus"},
        "scheduled_timezone",
    ),
    Case("sender_phone not E.164", "campaign", {**CAMPAIGN, "sender_phone": "12345"}, "sender_phone"),
    Case(
        "picture_file_key of another client",
        "campaign",
        {**CAMPAIGN, "picture_file_key": "9999/campaign/a.png"},
        "picture_file_key",
    ),
    Case("connection missing", "campaign", {**CAMPAIGN, "ccai_conn_id": "ccai_missing"}, "'ccai_missing'"),
    Case("connection without API key", "campaign", CAMPAIGN, "API key", {"password": ""}),
    Case("connection without client id", "campaign", CAMPAIGN, "client id", {"login": ""}),
    Case("connection with garbage host", "upload", {"file_path": "{tmp}/offer.png"}, "host", {"host": "not a url"}),
]

_rows: dict[str, list[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def bad_input_table():
    """After the module: when every case ran, the docs table must equal what this run observed."""
    yield
    if len(_rows) == len(CASES):
        rows = [_rows[case.name] for case in CASES]
        sent = sum(int(row[3]) for row in rows)
        totals = (
            f"Bad inputs tried: {len(rows)}; requests sent: {sent}; "
            "failures Airflow would retry: 0 (every one is an AirflowFailException)."
        )
        columns = ["Bad input", "Operator", "Error names", "Requests seen by CCAI", "Retried by Airflow"]
        reliability_report.check_or_update("bad-input", reliability_report.render(columns, rows), totals)


def _operator(case: Case, tmp: Path) -> Any:
    from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator

    kwargs = {
        key: value.replace("{tmp}", str(tmp)) if isinstance(value, str) else value for key, value in case.kwargs.items()
    }
    if case.operator == "upload":
        return CcaiUploadFileOperator(task_id="upload", **kwargs)
    return CcaiCreateCampaignOperator(task_id="send", **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, sandbox, tmp_path, monkeypatch, mocker, caplog):
    from airflow_provider_ccai.version_compat import AirflowFailException

    _files(tmp_path)
    if case.connection:
        conn = {"host": sandbox.api_url, "login": CLIENT_ID, "password": SANDBOX_KEY, **case.connection}
        monkeypatch.setenv(
            "AIRFLOW_CONN_CCAI_DEFAULT",
            connection_json(conn["host"], sandbox.base_url, conn["password"], login=conn["login"]),
        )
    context = {"ti": mocker.MagicMock(try_number=1), "dag_run": mocker.MagicMock(start_date=None)}

    with pytest.raises(AirflowFailException) as failure:
        _operator(case, tmp_path).execute(context)

    message = str(failure.value)
    assert case.names in message
    assert PHONE_SHAPED.search(message) is None
    assert SANDBOX_KEY not in message + caplog.text
    seen = sandbox.requests_seen()
    assert seen == []
    _rows[case.name] = [case.name, case.operator, f"`{case.names}`", str(len(seen)), "no (fails at once)"]
