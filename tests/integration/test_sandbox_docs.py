"""
docs/sandbox.md, run as written.

- "In Python tests": its ``...`` line becomes a ``dag.test()`` of the weekly example DAG, whose campaign task
  meets the snippet's "created, then 500" fault.
- "Run your own DAG against it": its DAG file and shell commands (sandbox, ``airflow db migrate``,
  ``airflow dags test``, the print of what the sandbox received) in a user's shell.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.airflow_support import free_port

pytestmark = pytest.mark.integration

SANDBOX_DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
RUN_YOUR_DAG = "...  # run your DAG, e.g. dag.test()"


def _code_block(heading: str, language: str) -> str:
    """Return the first ``language`` code block of the section ``## heading`` of docs/sandbox.md."""
    section = SANDBOX_DOC.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^```{language}\n(?P<code>.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert match, f"docs/sandbox.md: no {language} block under {heading!r}"
    return match["code"]


def test_the_python_tests_snippet_runs_a_dag_through_its_fault_and_finds_one_campaign(airflow_db, monkeypatch):
    from airflow_provider_ccai.example_dags.example_ccai_weekly_mms import dag

    code = _code_block("In Python tests", "python")
    assert code.count(RUN_YOUR_DAG) == 1
    # The snippet sets it: setting it first makes monkeypatch record it, and remove it again afterwards
    # (delenv of a variable that is not set records nothing to undo).
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_DEFAULT", "{}")
    monkeypatch.delenv("AIRFLOW_CONN_CCAI_DEFAULT")
    namespace = {"dag": dag}
    exec(compile(code.replace(RUN_YOUR_DAG, "run = dag.test()"), str(SANDBOX_DOC), "exec"), namespace)

    assert namespace["run"].state == "success"
    [create] = [entry for entry in namespace["sandbox"].requests_seen() if entry["endpoint"] == "create_campaign"]
    assert (create["status"], create["fault"]) == (500, "status_after")  # the fault was met, and not sent again


# -- "Run your own DAG against it": the DAG file and the shell commands, as a user would run them ------------

OWN_DAG = "Run your own DAG against it"
SHELL_TIMEOUT_SECONDS = 900  # bounds a hung run; a normal one takes about a minute


def _printed_campaigns(stdout: str) -> list[dict]:
    """The JSON the commands' last print wrote: the campaigns the sandbox received."""
    lines = stdout.splitlines()
    starts = [index for index, line in enumerate(lines) if line in ("[", "[]")]
    assert starts, stdout[-3000:]
    return json.loads("\n".join(lines[starts[-1] :]))


def test_your_own_dag_section_runs_as_written(tmp_path):
    dag_file = _code_block(OWN_DAG, "python")
    commands = _code_block(OWN_DAG, "bash")
    assert commands.count("8787") >= 3 and commands.count("/tmp/ccai-try") == 1
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "hello_ccai.py").write_text(dag_file)
    commands = commands.replace("8787", str(free_port())).replace("/tmp/ccai-try", str(tmp_path / "airflow-home"))
    # a user's shell with the provider's environment activated, without the test session's Airflow settings
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "CCAI_SANDBOX"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    shell = subprocess.Popen(
        ["bash", "-c", commands],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = shell.communicate(timeout=SHELL_TIMEOUT_SECONDS)
    finally:
        try:  # the sandbox the commands started in the background, if they did not stop it
            os.killpg(shell.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if shell.poll() is None:
            shell.kill()
            shell.communicate()

    assert shell.returncode == 0, stdout[-3000:]
    [campaign] = _printed_campaigns(stdout)
    assert campaign["title"].startswith("Hello from Airflow manual__20")  # {{ run_id }} rendered
    assert campaign["message"] == "Hi ${firstName}, this text comes from the CCAI sandbox."
    assert re.fullmatch(r"1234/campaign/[0-9a-f]{32}\.png", campaign["pictureFileKey"])
    assert [account["phone"] for account in campaign["accounts"]] == ["+15555550101", "+15555550102"]
    assert campaign["status"] == "SENT", stdout[-3000:]
    finished = [line for line in stdout.splitlines() if "DagRun Finished: dag_id=hello_ccai" in line]
    assert len(finished) == 1 and "state=success" in finished[0], stdout[-3000:]
    assert "CCAI campaign 1001: 2 of 2 messages done (2 sent, 0 failed)" in stdout  # the sensor waited for it
