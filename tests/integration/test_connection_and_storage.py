"""
Where the ``ccai`` connection and the MMS picture come from, checked against the bundled sandbox.

- ``CloudContactHook.test_connection()`` (what the UI's "Test" button calls): success, and a rejected
  key reported without the key.
- The connection resolves from ``AIRFLOW_CONN_*`` JSON, from an ``AIRFLOW_CONN_*`` URI made with
  ``Connection.get_uri()``, and from Airflow's local-filesystem secrets backend.
- A DAG run by ``dag.test()`` takes its image and its recipients from ``file://`` and ``memory://``
  ObjectStoragePath URIs given as params: the sandbox stores exactly the image's bytes and receives one
  campaign with that picture and those recipients; the stored rendered view of the image's URI leaves
  out its query string (a presigned URL's signature).
- A missing ``memory://`` object or a directory there fails before any request (the operator executed
  directly, with no database). How ``s3://`` URIs reach ``file_conn_id``, and objects that time out or
  are replaced while read, are unit tests (``tests/unit/test_operators.py``, ``test_recipients.py``):
  they need a filesystem patched to misbehave, which this module's tests do without.

Runs on every supported Airflow version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SANDBOX_KEY, TEST_DAGS, connection_json, parse_dag_folder
from tests.images import png

pytestmark = pytest.mark.integration

SUBPROCESS_TIMEOUT = 180
STORAGE_SIGNATURE = "0bjectst0re5ignature"


def _file_key(content: bytes) -> str:
    return f"{CLIENT_ID}/campaign/{hashlib.md5(content).hexdigest()}.png"


def _object_storage_path(uri: str) -> Any:
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 2.11
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    return ObjectStoragePath(uri)


@pytest.fixture
def memory_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """
    A fresh bucket on fsspec's in-memory filesystem, attached to Airflow as the ``memory`` scheme for this test
    only: Airflow keeps attached stores in a module-level cache, which is swapped for an empty one and restored.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    try:
        from airflow.sdk.io import attach
        from airflow.sdk.io import store as airflow_store
    except ImportError:  # Airflow 2.11
        import airflow.io.store as airflow_store  # type: ignore[no-redef]
        from airflow.io.store import attach  # type: ignore[no-redef]

    monkeypatch.setattr(airflow_store, "_STORE_CACHE", {})  # no store of an earlier test, none left for a later one
    attach(protocol="memory", fs=MemoryFileSystem())  # Airflow registers no filesystem for memory://
    bucket = f"ccai-test-{uuid.uuid4().hex[:12]}"
    yield bucket
    fs = MemoryFileSystem()
    if fs.exists(f"/{bucket}"):
        fs.rm(f"/{bucket}", recursive=True)


# -- test_connection ------------------------------------------------------------------------------


def test_test_connection_succeeds_with_a_read_only_call(sandbox):
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    assert CloudContactHook().test_connection() == (True, f"Connected to CCAI as client {CLIENT_ID}.")
    assert [entry["endpoint"] for entry in sandbox.requests_seen()] == ["stored_url"]
    assert sandbox.files() == {} and sandbox.campaigns() == []


def test_test_connection_reports_a_rejected_key_without_showing_it(sandbox, monkeypatch, caplog, capsys):
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    wrong = "wrong-key-that-must-not-be-shown-0042"
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_DEFAULT", connection_json(sandbox.api_url, sandbox.base_url, wrong))

    with caplog.at_level(logging.DEBUG):
        ok, message = CloudContactHook().test_connection()

    assert ok is False
    assert "401" in message
    assert wrong not in message and SANDBOX_KEY not in message
    captured = capsys.readouterr()
    assert wrong not in caplog.text + captured.out + captured.err
    assert [entry["endpoint"] for entry in sandbox.requests_seen()] == ["stored_url"]  # rejected: not retried


def test_test_connection_reports_a_missing_key_without_calling(sandbox, monkeypatch):
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    monkeypatch.setenv("AIRFLOW_CONN_CCAI_NO_KEY", connection_json(sandbox.api_url, sandbox.base_url, api_key=""))

    ok, message = CloudContactHook("ccai_no_key").test_connection()

    assert ok is False
    assert "ccai_no_key" in message and "API key" in message
    assert sandbox.requests_seen() == []


# -- where the connection comes from -----------------------------------------------------------------


def test_connection_from_json_environment_variable(sandbox):
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    settings = CloudContactHook().settings  # the sandbox fixture sets AIRFLOW_CONN_CCAI_DEFAULT as JSON

    assert (settings.client_id, settings.api_key) == (CLIENT_ID, SANDBOX_KEY)
    assert (settings.api_url, settings.files_url) == (sandbox.api_url, sandbox.base_url)
    assert (settings.read_timeout, settings.connect_timeout) == (5.0, 2.0)


def test_connection_from_uri_environment_variable(monkeypatch):
    from airflow_provider_ccai.hooks.ccai import CloudContactHook
    from airflow_provider_ccai.sandbox import SandboxServer

    try:
        from airflow.sdk import Connection
    except ImportError:  # Airflow 2.11
        from airflow.models.connection import Connection  # type: ignore[no-redef, assignment]

    key = "uri/key+with@special:chars%?#0123"  # every character a URI must escape
    with SandboxServer(key, client_id=CLIENT_ID) as sandbox:
        uri = Connection(
            conn_id="ccai_uri",
            conn_type="ccai",
            login=CLIENT_ID,
            password=key,
            host=sandbox.api_url,
            extra=json.dumps({"files_url": sandbox.base_url, "timeout": 7, "max_attempts": 2}),
        ).get_uri()
        monkeypatch.setenv("AIRFLOW_CONN_CCAI_URI", uri)
        hook = CloudContactHook("ccai_uri")

        assert hook.test_connection() == (True, f"Connected to CCAI as client {CLIENT_ID}.")
        assert (hook.settings.api_key, hook.settings.api_url) == (key, sandbox.api_url)
        assert (hook.settings.files_url, hook.settings.read_timeout, hook.settings.max_attempts) == (
            sandbox.base_url,
            7.0,
            2,
        )
        assert len(sandbox.requests_seen()) == 1


def test_connection_from_local_filesystem_secrets_backend(sandbox, tmp_path):
    """A fresh interpreter, because Airflow reads ``[secrets] backend`` once per process."""
    connections = tmp_path / "connections.json"
    connections.write_text(
        json.dumps(
            {
                "ccai_from_file": {
                    "conn_type": "ccai",
                    "login": CLIENT_ID,
                    "password": SANDBOX_KEY,
                    "host": sandbox.api_url,
                    "extra": {"files_url": sandbox.base_url, "timeout": 5},
                }
            }
        )
    )
    env = {
        **os.environ,
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(connections)}),
    }
    env.pop("AIRFLOW_CONN_CCAI_DEFAULT", None)
    assert not any(name.startswith("AIRFLOW_CONN_CCAI_FROM_FILE") for name in env)
    code = (
        "from airflow_provider_ccai.hooks.ccai import CloudContactHook\n"
        "print('RESULT', CloudContactHook('ccai_from_file').test_connection())\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT (True, 'Connected to CCAI as client {CLIENT_ID}.')" in result.stdout, result.stderr[-3000:]
    assert [entry["endpoint"] for entry in sandbox.requests_seen()] == ["stored_url"]


# -- images and recipients from object storage --------------------------------------------------


def _upload(file_path: str, **kwargs: Any) -> str:
    from airflow_provider_ccai.operators.ccai import CcaiUploadFileOperator

    operator = CcaiUploadFileOperator(task_id="upload_offer_image", file_path=file_path, **kwargs)
    return operator.execute(context={})  # type: ignore[arg-type]


RECIPIENTS = [
    {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"},
    {"firstName": "Alan", "lastName": "Turing", "phone": "+15555550102"},
]


@pytest.mark.parametrize(
    ("image_scheme", "recipients_scheme"), [("file", "memory"), ("memory", "file")], ids=["file-image", "memory-image"]
)
def test_dag_reads_image_and_recipients_from_object_storage(
    airflow_db, sandbox, tmp_path, memory_bucket, image_scheme, recipients_scheme
):
    from tests.dags.storage.ccai_object_storage_dag import DAG_ID
    from tests.integration.airflow_support import rendered_fields, task_states, xcoms

    image = png(3, 2, (200, 30, 90)) if image_scheme == "file" else png(4, 4, (10, 120, 250))
    lines = "".join(json.dumps(row) + "\n" for row in RECIPIENTS)

    def uri(scheme: str, name: str) -> str:
        return (tmp_path / name).as_uri() if scheme == "file" else f"memory://{memory_bucket}/{name}"

    # a query string, as a presigned URL has; these filesystems keep it as part of the object's name
    image_uri = uri(image_scheme, "offer.png") + f"?X-Amz-Signature={STORAGE_SIGNATURE}"
    recipients_uri = uri(recipients_scheme, "audience.jsonl")
    _object_storage_path(image_uri).write_bytes(image)
    _object_storage_path(recipients_uri).write_text(lines)
    bag = parse_dag_folder(TEST_DAGS / "storage")
    assert bag.import_errors == {}

    run = bag.dags[DAG_ID].test(run_conf={"image_uri": image_uri, "recipients_uri": recipients_uri})

    assert task_states(DAG_ID, run.run_id) == {"upload_offer_image": ("success", 1), "send_offer": ("success", 1)}
    file_key = _file_key(image)
    assert sandbox.file_bytes(file_key) == image
    assert sandbox.files()[file_key] == {
        "size": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
        "content_type": "image/png",
        "uploads": 1,
    }
    [campaign] = sandbox.campaigns()
    assert campaign["pictureFileKey"] == file_key
    assert [(a["firstName"], a["phone"]) for a in campaign["accounts"]] == [
        (row["firstName"], row["phone"]) for row in RECIPIENTS
    ]
    pushed = xcoms(DAG_ID, run.run_id)
    assert pushed[("upload_offer_image", "return_value")] == file_key
    assert pushed[("send_offer", "return_value")] == campaign["id"]
    rendered = rendered_fields(DAG_ID, run.run_id)[("upload_offer_image", -1)]
    assert uri(image_scheme, "offer.png") in rendered  # the rendered-template view shows the URI ...
    assert STORAGE_SIGNATURE not in rendered  # ... without its query string


def test_missing_memory_object_fails_naming_file_path_before_any_request(sandbox, memory_bucket):
    from airflow_provider_ccai.exceptions import CcaiInputError

    uri = f"memory://{memory_bucket}/offer.png"

    with pytest.raises(CcaiInputError) as failure:
        _upload(uri)

    assert str(failure.value) == f"file_path: {uri!r} does not exist"
    assert sandbox.requests_seen() == []


def test_directory_in_object_storage_fails_naming_file_path(sandbox, memory_bucket):
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow_provider_ccai.exceptions import CcaiInputError

    MemoryFileSystem().mkdir(f"/{memory_bucket}/images")
    uri = f"memory://{memory_bucket}/images"

    with pytest.raises(CcaiInputError) as failure:
        _upload(uri)

    assert str(failure.value) == f"file_path: {uri!r} is not a regular file"
    assert sandbox.requests_seen() == []
