"""
A real Airflow 3 API server shows the ``ccai`` connection form and runs its "Test" button.

Airflow 3.2+ builds the connection form from the provider info (``conn-fields``, ``ui-field-behaviour``,
``hook-name``) without importing the hook; 3.1 from the hook's widgets (labels, descriptions and types,
but not their bounds). On Airflow 3 the form metadata is served at ``/ui/connections/hook_meta``;
``/api/v2/connections/hook_meta`` is read as a connection id (404). Only collected on Airflow 3 (see
``tests/integration/conftest.py``). The server runs on a copy of the migrated SQLite home, on loopback;
every wait is bounded and every process is stopped, descendants included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_provider_ccai.get_provider_info import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from tests.conftest import CLIENT_ID
from tests.integration.airflow_support import free_port, log_tail, private_home, stop_processes

pytestmark = pytest.mark.integration

START_TIMEOUT_SECONDS = 180
POLL_SECONDS = 0.5
REQUEST_TIMEOUT = (5, 60)
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class ApiServer:
    url: str
    session: requests.Session
    process: subprocess.Popen
    log: Path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, **{"timeout": REQUEST_TIMEOUT, **kwargs})

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + path, **{"timeout": REQUEST_TIMEOUT, **kwargs})


def _wait_until_healthy(server: ApiServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"api-server exited early:\n{log_tail(server.log)}"
        try:
            response = server.get("/api/v2/monitor/health", timeout=2)
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
            response = None
        if response is not None and response.status_code == 200:
            if response.json()["metadatabase"]["status"] == "healthy":
                return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"api-server did not answer within {START_TIMEOUT_SECONDS} s:\n{log_tail(server.log)}")


@pytest.fixture(scope="module")
def api_server(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow api-server`` on a private copy of the migrated home, SimpleAuthManager with all users admin."""
    home = tmp_path_factory.mktemp("api-server-home")
    port = free_port()
    env = {
        **os.environ,
        **private_home(airflow_db, home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "api-server-test-jwt-secret-0123456789abcdef",
    }
    env.pop("AIRFLOW_CONN_CCAI_DEFAULT", None)
    log = home / "api-server.log"
    airflow = str(Path(sys.executable).parent / "airflow")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    server = ApiServer(f"http://127.0.0.1:{port}", session, process, log)
    try:
        _wait_until_healthy(server)
        token = server.get("/auth/token")
        assert token.status_code == 201, token.text
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield server
    finally:
        session.close()
        stop_processes([process])


@pytest.fixture(scope="module")
def ccai_meta(api_server: ApiServer) -> dict[str, Any]:
    response = api_server.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    entries = [entry for entry in response.json() if entry["connection_type"] == "ccai"]
    assert len(entries) == 1, [entry["connection_type"] for entry in response.json()]
    return entries[0]


def test_public_api_has_no_hook_meta_route(api_server):
    """``/api/v2/connections/hook_meta`` matches ``/api/v2/connections/{connection_id}``: no such connection."""
    response = api_server.get("/api/v2/connections/hook_meta")
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": "The Connection with connection_id: `hook_meta` was not found"}


def test_hook_meta_names_the_ccai_connection_type(ccai_meta):
    assert ccai_meta["hook_name"] == "CloudContactAI"
    assert ccai_meta["hook_class_name"] == "airflow_provider_ccai.hooks.ccai.CloudContactHook"


def test_hook_meta_relabels_and_hides_standard_fields(ccai_meta):
    fields = ccai_meta["standard_fields"]
    placeholders = UI_FIELD_BEHAVIOUR["placeholders"]
    assert fields["login"] == {"hidden": False, "title": "Client ID", "placeholder": placeholders["login"]}
    assert fields["password"] == {"hidden": False, "title": "API Key", "placeholder": placeholders["password"]}
    assert fields["host"] == {"hidden": False, "title": "API base URL", "placeholder": placeholders["host"]}
    assert fields["port"]["hidden"] is True
    assert fields["url_schema"]["hidden"] is True  # the connection's "schema" field


def test_hook_meta_lists_the_extra_fields_with_their_labels(ccai_meta):
    extra = ccai_meta["extra_fields"]
    assert set(extra) == {"files_url", "timeout", "connect_timeout", "max_attempts"} == set(CONN_FIELDS)
    for name, declared in CONN_FIELDS.items():
        assert extra[name]["schema"]["title"] == declared["label"], name
        assert extra[name]["description"] == declared["description"], name
        assert extra[name]["schema"]["type"] == declared["schema"]["type"], name
    if Version(airflow_version) >= Version("3.2"):  # the form is built from conn-fields, bounds included
        assert extra["timeout"]["schema"]["minimum"] == 1 and extra["timeout"]["schema"]["maximum"] == 600


def _connection_body(sandbox: Any, api_key: str) -> dict[str, Any]:
    """What the UI's "Test" button posts for a ``ccai`` connection to the sandbox."""
    api_url, files_url = sandbox.api_url, sandbox.base_url
    return {
        "connection_id": "ccai_form_test",
        "conn_type": "ccai",
        "login": CLIENT_ID,
        "password": api_key,
        "host": api_url,
        "extra": json.dumps({"files_url": files_url, "timeout": 5, "connect_timeout": 2}),
    }


def test_test_button_reaches_the_sandbox_and_reports_a_rejected_key_without_it(api_server):
    from airflow_provider_ccai.sandbox import SandboxServer

    key = "api-server-sandbox-key-0123456789"
    wrong = "wrong-key-from-the-form-9876543210"
    with SandboxServer(key, client_id=CLIENT_ID) as sandbox:
        good = api_server.post("/api/v2/connections/test", json=_connection_body(sandbox, key))
        bad = api_server.post("/api/v2/connections/test", json=_connection_body(sandbox, wrong))
        seen = sandbox.requests_seen()
        files, campaigns = sandbox.files(), sandbox.campaigns()

    assert good.status_code == 200, good.text
    assert good.json() == {"status": True, "message": f"Connected to CCAI as client {CLIENT_ID}."}
    assert bad.status_code == 200, bad.text
    assert bad.json()["status"] is False
    assert "401" in bad.json()["message"]
    assert wrong not in bad.text and key not in bad.text
    assert [entry["endpoint"] for entry in seen] == ["stored_url", "stored_url"]  # read-only calls
    assert files == {} and campaigns == []
    server_log = api_server.log.read_text(errors="replace")  # the hook ran in the API server's process
    assert "/api/v2/connections/test" in server_log  # the requests are in it, so the check below bites
    assert wrong not in server_log and key not in server_log
