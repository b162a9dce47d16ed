"""``make demo``, the README's first command: ``scripts/demo.py`` runs the weekly example against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

DEMO_TIMEOUT_SECONDS = 600  # bounds a hung run; a normal one takes seconds


def test_demo_runs_the_weekly_example_and_shows_the_campaign(tmp_path):
    # a user's shell, without the test session's Airflow settings: the demo sets up its own home and connection
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env["CCAI_DEMO_DIR"] = str(tmp_path / "demo")

    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().endswith("DEMO OK")
    assert "state=success" in result.stdout
    assert '"pictureFileKey": "1234/campaign/' in result.stdout  # the campaign the sandbox received
    assert {"sandbox.jsonl", "dags-test.log", "airflow-home"} <= {path.name for path in (tmp_path / "demo").iterdir()}
