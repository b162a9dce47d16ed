"""``make demo``, the README's first command: ``scripts/demo.py`` runs the weekly example against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.integration.airflow_support import stop_processes

pytestmark = pytest.mark.integration

DEMO_TIMEOUT_SECONDS = 600  # bounds a hung run; a normal one takes seconds


def test_demo_runs_the_weekly_example_and_shows_the_campaign(tmp_path):
    # a user's shell, without the test session's Airflow settings: the demo sets up its own home and connection
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env["CCAI_DEMO_DIR"] = str(tmp_path / "demo")

    demo = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = demo.communicate(timeout=DEMO_TIMEOUT_SECONDS)
    finally:
        stop_processes([demo])  # a hung run's Airflow commands too, not only demo.py

    assert demo.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert stdout.rstrip().endswith("DEMO OK")
    assert "state=success" in stdout
    assert '"pictureFileKey": "1234/campaign/' in stdout  # the campaign the sandbox received
    assert {"sandbox.jsonl", "dags-test.log", "airflow-home"} <= {path.name for path in (tmp_path / "demo").iterdir()}
    # `airflow dags test` output is not masked: the key must not be there because the provider never prints it
    dags_test_log = (tmp_path / "demo" / "dags-test.log").read_text()
    assert "CCAI campaign" in dags_test_log  # the provider's own lines are in it, so the check below bites
    assert "sandbox-demo-key" not in dags_test_log + stdout + stderr
