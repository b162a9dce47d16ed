"""
Bad input fails before any request. ``dag.test()`` runs the DAG ``ccai_bad_input``
(tests/dags/bad_input), one task per bad input, each with two retries, against the sandbox. Every task
must fail after one try (``AirflowFailException``: Airflow does not retry it), but the missing connection's,
which Airflow cannot tell from an unreachable secrets backend and so retries, with an error that names
the field (and row) and shows no phone number, without any request reaching the sandbox, and with the
API key in no log line. The observed rows are the bad-input table in docs/reliability.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, EXAMPLE_DAGS, SANDBOX_KEY, TEST_DAGS, connection_json, parse_dag_folder
from tests.dags.bad_input.ccai_bad_input_dag import CASES, DAG_ID
from tests.integration import reliability_report
from tests.integration.airflow_support import task_states

pytestmark = pytest.mark.integration

PNG = (EXAMPLE_DAGS / "assets" / "weekly_offer.png").read_bytes()
PHONE_SHAPED = re.compile(r"\+?\d{7,}")


def _files(tmp: Path) -> None:
    (tmp / "empty.png").write_bytes(b"")
    (tmp / "big.png").write_bytes(PNG[:16] + b"\0" * (1_048_577 - 16))
    (tmp / "text.png").write_text("this is not an image")
    (tmp / "offer.png").write_bytes(PNG)
    (tmp / "cut.png").write_bytes(PNG[: len(PNG) // 2])
    (tmp / "folder").mkdir()
    (tmp / "headerless.csv").write_text("Ada,Lovelace,+15555550101\n")
    (tmp / "shifted.csv").write_text("firstName,lastName,phone\nJohn,Smith, Jr.,+15555550101\n")
    (tmp / "latin1.csv").write_bytes("firstName,lastName,phone\nJos\xe9,Lovelace,+15555550101\n".encode("latin-1"))


def _connections(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ccai_default`` points at the sandbox; each connection case gets its own, with fields spoiled."""
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_DEFAULT", connection_json(sandbox.api_url, sandbox.base_url, SANDBOX_KEY))
    for case in CASES:
        if case.connection:
            conn = {"host": sandbox.api_url, "login": CLIENT_ID, "password": SANDBOX_KEY, **case.connection}
            monkeypatch.setenv(
                f"AIRFLOW_CONN_{case.conn_id.upper()}",
                connection_json(conn["host"], sandbox.base_url, conn["password"], login=conn["login"]),
            )


def test_every_bad_input_fails_once_naming_its_field_before_any_request(
    airflow_db, sandbox, tmp_path, monkeypatch, capfd, caplog
):
    _files(tmp_path)
    _connections(sandbox, monkeypatch)
    bag = parse_dag_folder(TEST_DAGS / "bad_input")
    assert bag.import_errors == {}

    dag = bag.dags[DAG_ID]
    run = dag.test(run_conf={"tmp": str(tmp_path)})

    states = task_states(DAG_ID, run.run_id)
    output = capfd.readouterr()
    logged = "\n".join([output.out, output.err, caplog.text])
    assert SANDBOX_KEY not in logged
    assert sandbox.requests_seen() == []
    rows = []
    errors = tmp_path / "errors"
    for case in CASES:
        tries = 1 + dag.get_task(case.task_id).retries
        expected = tries if case.retried else 1  # retries=2, unused but by what a retry may fix
        assert states[case.task_id] == ("failed", expected), f"{case.name}: retried or not, or not failed"
        # written by the task's on_failure_callback (the DAG file's record_failure), after its last try
        record = json.loads((errors / f"{case.task_id}.json").read_text())
        message = record["message"]
        assert record["no_retry"] is not case.retried, f"{case.name}: {record['type']}: {message}"
        assert case.names in message, f"{case.name}: {message}"
        assert PHONE_SHAPED.search(message) is None, f"{case.name}: {message}"
        assert message.splitlines()[0] in logged, case.name  # the capture holds the error, so the key check bites
        failed_after = states[case.task_id][1]
        retried = (
            f"yes: failed after {failed_after} tries of {tries} (it may be a secrets backend that could not be reached)"
            if failed_after > 1
            else f"no: failed after 1 try of {tries}"
        )
        rows.append([case.name, case.operator, f"`{case.names}`", retried])
    assert len(states) == len(CASES)

    retried_cases = [case.name for case in CASES if case.retried]
    totals = (
        f"Bad inputs tried: {len(rows)}; requests sent: {len(sandbox.requests_seen())}; failures Airflow "
        f"retried: {len(retried_cases)} ({', '.join(retried_cases)}: Airflow reports a secrets backend it could "
        "not reach the same way); every other one is an AirflowFailException, whose task failed on its first of "
        f"{' or '.join(sorted({str(1 + task.retries) for task in dag.tasks}))} tries."
    )
    columns = ["Bad input", "Operator", "Error names", "Retried by Airflow"]
    reliability_report.check_or_update("bad-input", reliability_report.render(columns, rows), totals)
