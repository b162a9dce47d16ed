"""
The "In Python tests" snippet of docs/sandbox.md, run as written: its ``...`` line becomes a ``dag.test()``
of the weekly example DAG, whose campaign task meets the snippet's "created, then 500" fault.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SANDBOX_DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
RUN_YOUR_DAG = "...  # run your DAG, e.g. dag.test()"


def _python_tests_snippet() -> str:
    section = SANDBOX_DOC.read_text().split("\n## In Python tests\n", 1)[1]
    match = re.search(r"^```python\n(?P<code>.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match, "docs/sandbox.md: no Python snippet under 'In Python tests'"
    return match["code"]


def test_the_python_tests_snippet_runs_a_dag_through_its_fault_and_finds_one_campaign(airflow_db, monkeypatch):
    from airflow_provider_ccai.example_dags.example_ccai_weekly_mms import dag

    code = _python_tests_snippet()
    assert code.count(RUN_YOUR_DAG) == 1
    monkeypatch.delenv("AIRFLOW_CONN_CCAI_DEFAULT", raising=False)  # the snippet sets it; restored afterwards
    namespace = {"dag": dag}
    exec(compile(code.replace(RUN_YOUR_DAG, "run = dag.test()"), str(SANDBOX_DOC), "exec"), namespace)

    assert namespace["run"].state == "success"
    [create] = [entry for entry in namespace["sandbox"].requests_seen() if entry["endpoint"] == "create_campaign"]
    assert (create["status"], create["fault"]) == (500, "status_after")  # the fault was met, and not sent again
