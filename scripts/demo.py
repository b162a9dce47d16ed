"""
Run the weekly MMS example DAG end to end against the bundled CCAI sandbox, then show what it sent.

``make demo`` runs this with the project's Airflow 3.3 environment. Nothing leaves this machine: the
sandbox listens on 127.0.0.1 and Airflow keeps its state in ``.demo/`` (SQLite), or in the directory
``CCAI_DEMO_DIR`` names (the tests use a temporary one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from airflow_provider_ccai.sandbox import SandboxServer

REPO = Path(__file__).resolve().parent.parent
DEMO = Path(os.environ.get("CCAI_DEMO_DIR") or REPO / ".demo")
DAG_ID = "example_ccai_weekly_mms"
CLIENT_ID = "1234"
API_KEY = "sandbox-demo-key"


def airflow(*args: str, env: dict[str, str], log: Path) -> int:
    """Run one Airflow CLI command from this environment, its output going to ``log``."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    with log.open("w") as out:
        return subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    home = DEMO / "airflow-home"
    home.mkdir(parents=True)
    with SandboxServer(
        API_KEY, client_id=CLIENT_ID, send_seconds=2, journal_path=str(DEMO / "sandbox.jsonl")
    ) as sandbox:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow_provider_ccai" / "example_dags"),
            "AIRFLOW_CONN_CCAI_DEFAULT": sandbox.connection_uri_json(CLIENT_ID),
        }
        print(f"CCAI sandbox on {sandbox.base_url}; Airflow home {home}")
        print("Migrating the SQLite metadata database ...", flush=True)
        if airflow("db", "migrate", env=env, log=DEMO / "db-migrate.log"):
            print(f"airflow db migrate failed; see {DEMO / 'db-migrate.log'}")
            return 1
        print(f"Running: airflow dags test {DAG_ID} ...", flush=True)
        code = airflow("dags", "test", DAG_ID, env=env, log=DEMO / "dags-test.log")
        finished = [line for line in (DEMO / "dags-test.log").read_text().splitlines() if "DagRun Finished" in line]
        print(finished[-1].strip() if finished else f"no 'DagRun Finished' line; see {DEMO / 'dags-test.log'}")
        print("\nFiles the sandbox stores:")
        print(json.dumps(sandbox.files(), indent=2))
        print("\nCampaigns the sandbox received (what CCAI would have texted):")
        print(json.dumps(sandbox.campaigns(), indent=2))
        print(
            f"\nEvery request is journaled in {DEMO / 'sandbox.jsonl'}; full Airflow output in {DEMO / 'dags-test.log'}"
        )
        succeeded = code == 0 and bool(finished) and "state=success" in finished[-1] and len(sandbox.campaigns()) == 1
    print("\nDEMO OK" if succeeded else "\nDEMO FAILED")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
