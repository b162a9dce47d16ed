"""Tests of the local CCAI sandbox (loopback only)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_ccai.sandbox import SandboxServer

API_KEY = "test-key-7f3a9c"
CID = "1234"
REPO_ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def auth(key: str = API_KEY) -> dict[str, str]:
    """Return the bearer header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def campaign_body(**overrides: Any) -> dict[str, Any]:
    """Return a valid campaigns/direct body, with top-level overrides."""
    body: dict[str, Any] = {
        "accounts": [
            {"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550100", "data": {"city": "London"}},
            {"firstName": "Alan", "lastName": "Turing", "phone": "+14155550101", "messageData": "ref-2"},
        ],
        "message": "Hi ${firstName} from ${city}",
        "title": "Sandbox test",
    }
    body.update(overrides)
    return body


def wait_until(predicate: Callable[[], bool], attempts: int = 400, pause: float = 0.025) -> bool:
    """Poll ``predicate`` a bounded number of times."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(pause)
    return predicate()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Factory of started sandboxes, all stopped at teardown."""
    started: list[SandboxServer] = []

    def factory(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("send_seconds", 0.0)
        server = SandboxServer(API_KEY, **kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    """A sandbox without client-id restriction where campaigns are sent immediately."""
    return make_sandbox()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A keep-alive session."""
    with requests.Session() as session:
        yield session


def create(sb: SandboxServer, http: requests.Session, body: Any = None, **kwargs: Any) -> requests.Response:
    """POST a campaign for client CID."""
    return http.post(
        f"{sb.api_url}/clients/{CID}/campaigns/direct",
        json=campaign_body() if body is None else body,
        headers=auth(),
        **kwargs,
    )


def signed_url(sb: SandboxServer, http: requests.Session, name: str = "logo.png", file_type: str = "image/png") -> str:
    """Request a signed upload URL for ``CID/campaign/name``."""
    response = http.post(
        f"{sb.base_url}/upload/url",
        json={"fileName": name, "fileType": file_type, "fileBasePath": f"{CID}/campaign", "publicFile": True},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"signedS3Url"}
    return response.json()["signedS3Url"]


def s3_code(response: requests.Response) -> str:
    """Extract the S3 error code from an XML error body."""
    match = re.search(r"<Code>([^<]+)</Code>", response.text)
    assert match, response.text
    return match.group(1)


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("headers", "state"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer "}, "missing"),
        (auth("wrong"), "invalid"),
        ({"Authorization": "Basic eHk="}, "invalid"),
    ],
)
def test_missing_or_invalid_bearer_token_is_401(
    sandbox: SandboxServer, http: requests.Session, headers: dict[str, str], state: str
) -> None:
    calls = [
        ("POST", f"{sandbox.api_url}/clients/{CID}/campaigns/direct", campaign_body()),
        ("GET", f"{sandbox.api_url}/clients/{CID}/campaigns", None),
        ("POST", f"{sandbox.base_url}/upload/url", {"fileName": "a.png"}),
        ("GET", f"{sandbox.api_url}/v2/messages/campaign/1001/stats", None),
    ]
    for method, url, body in calls:
        response = http.request(method, url, json=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthorized", "message": "missing or invalid bearer token"}
    assert [entry["auth"] for entry in sandbox.requests_seen()] == [state] * len(calls)
    assert [entry["status"] for entry in sandbox.requests_seen()] == [401] * len(calls)
    assert sandbox.campaigns() == []


def test_wrong_client_id_is_403(make_sandbox: Callable[..., SandboxServer], http: requests.Session) -> None:
    sb = make_sandbox(client_id=CID)
    forbidden = {"error": "Forbidden", "message": "client ID provided doesn't have the authority"}
    for method, path in [
        ("GET", "/clients/999/campaigns"),
        ("GET", "/clients/999/storedUrl?fileKey=a"),
        ("POST", "/clients/999/campaigns/direct"),
    ]:
        response = http.request(method, sb.api_url + path, json=campaign_body(), headers=auth())
        assert (response.status_code, response.json()) == (403, forbidden)
    assert http.get(f"{sb.api_url}/clients/{CID}/campaigns", headers=auth()).json() == []
    response = http.post(
        f"{sb.base_url}/upload/url",
        json={"fileName": "a.png", "fileType": "image/png", "fileBasePath": "999/campaign"},
        headers=auth(),
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("fileBasePath:")


def test_non_numeric_client_id_is_400(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(f"{sandbox.api_url}/clients/abc/campaigns", headers=auth())
    assert response.status_code == 400
    assert response.json()["message"].startswith("clientId:")


# --------------------------------------------------------------------------- files API and S3


def test_upload_url_and_put_store_exact_bytes(sandbox: SandboxServer, http: requests.Session) -> None:
    key = f"{CID}/campaign/logo.png"
    stored = http.get(f"{sandbox.api_url}/clients/{CID}/storedUrl", params={"fileKey": key}, headers=auth())
    assert stored.json() == {"storedUrl": ""}

    url = signed_url(sandbox, http)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == sandbox.base_url
    assert parts.path == f"/s3/{key}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", query["X-Amz-Date"][0])
    assert query["X-Amz-SignedHeaders"] == ["content-type;host"]
    assert "X-Amz-SignedHeaders=content-type%3Bhost" in url
    assert query["X-Amz-Expires"] == ["86400"]
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"][0])

    put = http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    assert (put.status_code, put.content) == (200, b"")
    assert sandbox.file_bytes(key) == PNG
    info = {"size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest(), "content_type": "image/png", "uploads": 1}
    assert sandbox.files() == {key: info}
    assert http.get(f"{sandbox.base_url}/_sandbox/files").json() == {key: info}

    public = http.get(f"{sandbox.base_url}/s3/{key}")
    assert (public.status_code, public.content, public.headers["Content-Type"]) == (200, PNG, "image/png")
    stored = http.get(f"{sandbox.api_url}/clients/{CID}/storedUrl", params={"fileKey": key}, headers=auth())
    assert stored.json() == {"storedUrl": f"{sandbox.base_url}/s3/{key}"}

    assert http.put(url, data=b"GIF89a", headers={"Content-Type": "image/png"}).status_code == 200
    assert sandbox.files()[key]["uploads"] == 2
    assert sandbox.file_bytes(key) == b"GIF89a"
    assert http.get(f"{sandbox.base_url}/s3/{CID}/campaign/other.png").status_code == 404


def test_file_name_with_space_is_quoted_in_url(sandbox: SandboxServer, http: requests.Session) -> None:
    url = signed_url(sandbox, http, name="my logo.jpg", file_type="image/jpeg")
    assert "/s3/1234/campaign/my%20logo.jpg?" in url
    assert http.put(url, data=b"jpeg", headers={"Content-Type": "image/jpeg"}).status_code == 200
    assert sandbox.file_bytes(f"{CID}/campaign/my logo.jpg") == b"jpeg"


def test_put_with_wrong_content_type_is_signature_mismatch(sandbox: SandboxServer, http: requests.Session) -> None:
    url = signed_url(sandbox, http)
    response = http.put(url, data=PNG, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 403
    assert s3_code(response) == "SignatureDoesNotMatch"
    assert sandbox.files() == {}


@pytest.mark.parametrize(
    "mutation",
    [
        "tamper",
        "drop_signature",
        "other_key",
        "extra_parameter",
        "repeated_signature",
        "repeated_algorithm",
        "other_signed_headers",
    ],
)
def test_put_with_bad_signature_is_403(sandbox: SandboxServer, http: requests.Session, mutation: str) -> None:
    url = signed_url(sandbox, http)
    if mutation == "tamper":
        first = url.split("X-Amz-Signature=")[1][0]
        url = url.replace(f"X-Amz-Signature={first}", "X-Amz-Signature=" + ("1" if first == "0" else "0"))
    elif mutation == "drop_signature":
        url = re.sub(r"&X-Amz-Signature=[0-9a-f]+", "", url)
    elif mutation == "other_key":
        url = url.replace("/logo.png?", "/evil.png?")
    elif mutation == "extra_parameter":  # S3 signs the whole query
        url += "&x-id=PutObject"
    elif mutation == "repeated_signature":  # the valid signature comes first
        url += "&X-Amz-Signature=" + "0" * 64
    elif mutation == "repeated_algorithm":  # same name and value twice
        url += "&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    else:
        url = url.replace("X-Amz-SignedHeaders=content-type%3Bhost", "X-Amz-SignedHeaders=host")
    response = http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (403, "SignatureDoesNotMatch")
    assert sandbox.files() == {}


def test_put_without_content_length_is_411(sandbox: SandboxServer) -> None:
    split = urlsplit(signed_url(sandbox, requests.Session()))
    with socket.create_connection((split.hostname, split.port), timeout=10) as client:
        client.sendall(
            f"PUT {split.path}?{split.query} HTTP/1.1\r\nHost: {split.netloc}\r\nContent-Type: image/png\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = client.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 411 ") and "MissingContentLength" in answer
    assert sandbox.files() == {}


def test_put_with_authorization_header_is_400(sandbox: SandboxServer, http: requests.Session) -> None:
    url = signed_url(sandbox, http)
    response = http.put(url, data=PNG, headers={"Content-Type": "image/png", **auth()})
    assert response.status_code == 400
    assert s3_code(response) == "InvalidArgument"
    assert "Only one auth mechanism allowed" in response.text
    assert sandbox.files() == {}


def test_put_larger_than_1_mb_is_400_and_connection_stays_usable(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    url = signed_url(sandbox, http)
    response = http.put(url, data=b"x" * (1_048_576 + 1), headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (400, "EntityTooLarge")
    assert sandbox.files() == {}
    entry = sandbox.requests_seen()[-1]
    assert (entry["size"], entry["status"], "sha256" in entry) == (1_048_577, 400, False)
    exactly_limit = http.put(url, data=b"y" * 1_048_576, headers={"Content-Type": "image/png"})
    assert exactly_limit.status_code == 200
    assert sandbox.files()[f"{CID}/campaign/logo.png"]["size"] == 1_048_576


def test_url_with_zero_ttl_expires(make_sandbox: Callable[..., SandboxServer], http: requests.Session) -> None:
    sb = make_sandbox(url_ttl_seconds=0)
    url = signed_url(sb, http)
    assert "X-Amz-Expires=0" in url
    response = http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (403, "AccessDenied")
    assert "Request has expired" in response.text
    assert sb.files() == {}


def test_expire_url_fault(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("upload_url", "expire_url")
    expired = signed_url(sandbox, http)
    response = http.put(expired, data=PNG, headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (403, "AccessDenied")
    assert "Request has expired" in response.text
    fresh = signed_url(sandbox, http)
    assert http.put(fresh, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    assert [entry.get("fault") for entry in sandbox.requests_seen()] == ["expire_url", None, None, None]


def test_stored_url_requires_file_key(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.get(f"{sandbox.api_url}/clients/{CID}/storedUrl", headers=auth())
    assert response.status_code == 400
    assert response.json()["message"].startswith("fileKey:")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"fileName": ""}, "fileName"),
        ({"fileName": "a/b.png"}, "fileName"),
        ({"fileName": "..png"}, "fileName"),
        ({"fileName": 5}, "fileName"),
        ({"fileName": "."}, "fileName"),
        ({"fileName": ".."}, "fileName"),
        ({"fileName": " \t "}, "fileName"),
        ({"fileName": "a\ud800.png"}, "fileName"),  # a lone surrogate: not encodable as UTF-8
        ({"fileName": "a\x00.png"}, "fileName"),
        ({"fileName": "a\n.png"}, "fileName"),
        ({"fileName": "a\x1b[2J.png"}, "fileName"),
        ({"fileName": "a\x7f.png"}, "fileName"),
        ({"fileName": "a\x85.png"}, "fileName"),  # a C1 control character
        ({"fileName": "x" * (1024 - len(f"{CID}/campaign/") + 1)}, "fileName"),  # key of 1025 bytes
        ({"fileName": "é" * 506}, "fileName"),  # 506 characters, but a key of 1026 bytes of UTF-8
        ({"fileType": "video/mp4"}, "fileType"),
        ({"fileBasePath": "1234/other"}, "fileBasePath"),
        ({"fileBasePath": "abc/campaign"}, "fileBasePath"),
        ({"publicFile": "yes"}, "publicFile"),
    ],
)
def test_upload_url_validation(
    sandbox: SandboxServer, http: requests.Session, override: dict[str, Any], field: str
) -> None:
    body = {"fileName": "a.png", "fileType": "image/png", "fileBasePath": f"{CID}/campaign", "publicFile": True}
    body.update(override)
    response = http.post(f"{sandbox.base_url}/upload/url", json=body, headers=auth())
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert response.json()["message"].startswith(f"{field}: ")
    assert sandbox.requests_seen()[-1]["json"] == body


def test_file_name_up_to_the_s3_key_limit_is_uploaded(sandbox: SandboxServer, http: requests.Session) -> None:
    name = "é" * 505  # with "1234/campaign/", a key of exactly 1024 bytes of UTF-8
    key = f"{CID}/campaign/{name}"
    assert len(key.encode()) == 1024
    url = signed_url(sandbox, http, name=name)
    assert http.put(url, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    assert sandbox.file_bytes(key) == PNG


# --------------------------------------------------------------------------- campaigns


def _account(**fields: Any) -> dict[str, Any]:
    account = {"firstName": "A", "lastName": "B", "phone": "+14155550100"}
    account.update(fields)
    return account


@pytest.mark.parametrize(
    ("body", "message_start"),
    [
        (campaign_body(accounts=[]), "accounts: "),
        (campaign_body(accounts="x"), "accounts: "),
        (campaign_body(accounts=[_account(), "x"]), "accounts[1]: "),
        (
            campaign_body(accounts=[_account(), _account(), _account(phone="4155550100")]),
            "accounts[2].phone: not E.164",
        ),
        (campaign_body(accounts=[_account(phone="+0123456789")]), "accounts[0].phone: not E.164"),
        (campaign_body(accounts=[_account(phone=14155550100)]), "accounts[0].phone: must be a string"),
        (campaign_body(accounts=[{"lastName": "B", "phone": "+14155550100"}]), "accounts[0].firstName: required"),
        (campaign_body(accounts=[_account(), _account(lastName=None)]), "accounts[1].lastName: must be a string"),
        (campaign_body(accounts=[_account(), _account(firstName="  ")]), "accounts[1].firstName: must not be empty"),
        (campaign_body(accounts=[_account(lastName="")]), "accounts[0].lastName: must not be empty"),
        (campaign_body(accounts=[_account(data={"city": 3})]), "accounts[0].data.city: must be a string"),
        (campaign_body(accounts=[_account(data=["x"])]), "accounts[0].data: "),
        (campaign_body(accounts=[_account(messageData={"a": 1})]), "accounts[0].messageData: "),
        (campaign_body(message=""), "message: "),
        (campaign_body(title=None), "title: "),
        (campaign_body(scheduledTimestamp="tomorrow"), "scheduledTimestamp: "),
        (campaign_body(scheduledTimestamp="2025-02-30T10:00:00Z"), "scheduledTimestamp: "),
        (campaign_body(scheduledTimestamp="9999-12-31T23:59:59-05:00"), "scheduledTimestamp: "),  # past year 9999
        (campaign_body(pictureFileKey=7), "pictureFileKey: "),
        ([campaign_body()], "body: must be a JSON object"),
    ],
)
def test_create_campaign_validation(
    sandbox: SandboxServer, http: requests.Session, body: Any, message_start: str
) -> None:
    response = create(sandbox, http, body)
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert response.json()["message"].startswith(message_start), response.json()
    assert sandbox.campaigns() == []
    entry = sandbox.requests_seen()[-1]
    assert (entry["endpoint"], entry["status"], entry["json"]) == ("create_campaign", 400, body)


@pytest.mark.parametrize(
    ("raw", "message_start"),
    [
        (b"", "body: empty"),
        (b"{not json", "body: invalid JSON"),
        (b'{"title": NaN}', "body: invalid JSON (NaN is not JSON)"),
        (b'{"a": ' + b"[" * 100_000, "body: invalid JSON (nested too deeply)"),
        (b'{"a": ' + b"1" * 5_000 + b"}", "body: invalid JSON"),  # longer than Python converts to int
        (b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}", "body: nested more than 64 levels deep"),
        (b'{"a": ' + b"[" * 600 + b"]" * 600 + b"}", "body: nested more than 64 levels deep"),
        (b'{"title": 1e999}', "body: invalid JSON (number too large for a float)"),
        (b'{"title": -1.5e400}', "body: invalid JSON (number too large for a float)"),
    ],
    ids=["empty", "not json", "NaN", "deep", "long integer", "65 levels", "601 levels", "1e999", "-1.5e400"],
)
def test_create_campaign_rejects_non_json(
    sandbox: SandboxServer, http: requests.Session, raw: bytes, message_start: str
) -> None:
    response = http.post(
        f"{sandbox.api_url}/clients/{CID}/campaigns/direct",
        data=raw,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(message_start)
    assert "json" not in sandbox.requests_seen()[-1]


def nested_arrays(levels: int) -> list[Any]:
    """Return ``levels`` arrays nested in one another, the innermost holding ``"core"``."""
    value: list[Any] = ["core"]
    for _ in range(levels - 1):
        value = [value]
    return value


def test_json_nested_64_levels_is_kept_and_deeper_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    """64 levels (the body object and 63 arrays) are accepted; deeper bodies are refused before being kept."""
    assert create(sandbox, http, campaign_body(extra=nested_arrays(63))).status_code == 200
    upload = {"fileName": "a.png", "fileType": "image/png", "fileBasePath": f"{CID}/campaign", "extra": None}
    for levels in (64, 600):
        assert create(sandbox, http, campaign_body(extra=nested_arrays(levels))).status_code == 400
        upload["extra"] = nested_arrays(levels)
        response = http.post(f"{sandbox.base_url}/upload/url", json=upload, headers=auth())
        assert (response.status_code, response.json()["message"]) == (400, "body: nested more than 64 levels deep")
    faults = http.post(f"{sandbox.base_url}/_sandbox/faults", json=[{"endpoint": "stats", "x": nested_arrays(600)}])
    assert (faults.status_code, faults.json()["message"]) == (400, "body: nested more than 64 levels deep")

    requests_seen = http.get(f"{sandbox.base_url}/_sandbox/requests")
    campaigns = http.get(f"{sandbox.base_url}/_sandbox/campaigns")
    assert (requests_seen.status_code, campaigns.status_code) == (200, 200)
    assert [("json" in entry, entry["status"]) for entry in requests_seen.json()] == [(True, 200)] + [(False, 400)] * 4
    assert [campaign["extra"] for campaign in campaigns.json()] == [nested_arrays(63)]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("endpoint", ["create_campaign", "upload_url"])
def test_json_endpoints_refuse_another_content_type(
    sandbox: SandboxServer, http: requests.Session, endpoint: str, content_type: str | None
) -> None:
    if endpoint == "create_campaign":
        url, body = f"{sandbox.api_url}/clients/{CID}/campaigns/direct", campaign_body()
    else:
        url = f"{sandbox.base_url}/upload/url"
        body = {"fileName": "a.png", "fileType": "image/png", "fileBasePath": f"{CID}/campaign", "publicFile": True}
    headers = {**auth(), **({"Content-Type": content_type} if content_type else {})}
    response = http.post(url, data=json.dumps(body).encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["message"] == f"Content-Type: expected application/json, got {content_type or 'none'}"
    assert sandbox.campaigns() == []
    assert http.post(url, json=body, headers=auth()).status_code == 200


def test_create_list_and_inspect_campaigns(sandbox: SandboxServer, http: requests.Session) -> None:
    response = http.post(
        f"{sandbox.api_url}/clients/{CID}/campaigns/direct",
        json=campaign_body(
            senderPhone="+14155550199", scheduledTimestamp="2020-01-28T14:46:44.388Z", scheduledTimezone="PST8PDT"
        ),
        headers={**auth(), "ForceNewCampaign": "true"},
    )
    assert response.status_code == 200
    created = response.json()
    assert created["id"] == 1001
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["createdDate"])
    assert created["scheduledTimestamp"] == "2020-01-28T14:46:44.388+00:00"
    assert created["client"] == {"id": 1234, "name": "SANDBOX", "apiKey": None, "accountId": 1}
    expected_subset = {
        "title": "Sandbox test",
        "message": "Hi ${firstName} from ${city}",
        "senderPhone": "+14155550199",
        "scheduledTimezone": "PST8PDT",
        "campaignType": "SMS",
        "fileKey": None,
        "pictureFileKey": None,
        "totalError": None,
        "totalSent": None,
        "totalPending": None,
        "pendingApproval": None,
    }
    assert {k: created[k] for k in expected_subset} == expected_subset
    assert created["status"] == "SENT"  # send_seconds=0

    second = create(sandbox, http, campaign_body(title="Second", pictureFileKey=f"{CID}/campaign/missing.png"))
    assert second.json()["id"] == 1002
    assert second.json()["pictureFileKey"] == f"{CID}/campaign/missing.png"

    listed = http.get(f"{sandbox.api_url}/clients/{CID}/campaigns", headers=auth()).json()
    assert [c["id"] for c in listed] == [1002, 1001]
    assert set(listed[0]) == {
        "id",
        "title",
        "message",
        "status",
        "createdDate",
        "scheduledTimestamp",
        "scheduledTimezone",
        "pictureFileKey",
        "senderPhone",
        "campaignType",
    }
    assert http.get(f"{sandbox.api_url}/clients/999/campaigns", headers=auth()).json() == []

    full = http.get(f"{sandbox.base_url}/_sandbox/campaigns").json()
    assert full == sandbox.campaigns()
    assert [c["id"] for c in full] == [1001, 1002]
    assert full[0]["accounts"] == campaign_body()["accounts"]
    assert full[0]["forceNewCampaign"] == "true"
    assert full[0]["scheduledTimestamp"] == "2020-01-28T14:46:44.388Z"  # as received
    assert full[0]["sandboxWarnings"] == []
    assert full[1]["forceNewCampaign"] is None
    assert len(full[1]["sandboxWarnings"]) == 1
    assert "missing.png" in full[1]["sandboxWarnings"][0]
    assert "not in sandbox storage" in full[1]["sandboxWarnings"][0]


def test_picture_in_storage_gives_no_warning(sandbox: SandboxServer, http: requests.Session) -> None:
    http.put(signed_url(sandbox, http), data=PNG, headers={"Content-Type": "image/png"})
    assert create(sandbox, http, campaign_body(pictureFileKey=f"{CID}/campaign/logo.png")).status_code == 200
    assert sandbox.campaigns()[0]["sandboxWarnings"] == []


def test_stats_progress_from_pending_to_sent(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over ``send_seconds`` the counts move pending -> sending -> sent; read on a clock the test moves."""
    from types import SimpleNamespace

    from airflow_provider_ccai.sandbox import server

    clock = [1_800_000_000.0]
    monkeypatch.setattr(server, "time", SimpleNamespace(time=lambda: clock[0]))
    sb = make_sandbox(send_seconds=10)
    accounts = [_account(phone=f"+1415555010{i}") for i in range(4)]
    campaign_id = create(sb, http, campaign_body(accounts=accounts)).json()["id"]
    url = f"{sb.api_url}/v2/messages/campaign/{campaign_id}/stats"
    snapshots: list[dict[str, int]] = []
    statuses: list[str] = []
    for _ in range(12):  # 0 s to 11 s after the campaign was created
        snapshots.append(http.get(url, headers=auth()).json())
        statuses.append(http.get(f"{sb.api_url}/clients/{CID}/campaigns", headers=auth()).json()[0]["status"])
        clock[0] += 1

    assert snapshots[0] == {"errorCount": 0, "pendingCount": 4, "sendingCount": 0, "sentCount": 0, "totalCount": 4}
    assert snapshots[-1] == {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 4, "totalCount": 4}
    assert any(snap["sendingCount"] for snap in snapshots)
    assert (statuses[0], statuses[-1]) == ("PENDING", "SENT") and "SENDING" in statuses
    for snap in snapshots:
        assert snap["pendingCount"] + snap["sendingCount"] + snap["sentCount"] + snap["errorCount"] == 4
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        assert after["pendingCount"] <= before["pendingCount"]
        assert after["sentCount"] >= before["sentCount"]
    allowed_next = {"PENDING": {"PENDING", "SENDING", "SENT"}, "SENDING": {"SENDING", "SENT"}, "SENT": {"SENT"}}
    for before_status, after_status in zip(statuses, statuses[1:], strict=False):
        assert after_status in allowed_next[before_status]


def test_magic_test_numbers_end_in_error(sandbox: SandboxServer, http: requests.Session) -> None:
    mixed = create(sandbox, http, campaign_body(accounts=[_account(), _account(phone="+15005550006")])).json()
    assert mixed["status"] == "SENT"
    stats = http.get(f"{sandbox.api_url}/v2/messages/campaign/{mixed['id']}/stats", headers=auth()).json()
    assert stats == {"errorCount": 1, "pendingCount": 0, "sendingCount": 0, "sentCount": 1, "totalCount": 2}
    failed = create(sandbox, http, campaign_body(accounts=[_account(phone="+15005550001")])).json()
    assert failed["status"] == "ERROR"
    stats = http.get(f"{sandbox.api_url}/v2/messages/campaign/{failed['id']}/stats", headers=auth()).json()
    assert stats == {"errorCount": 1, "pendingCount": 0, "sendingCount": 0, "sentCount": 0, "totalCount": 1}


def test_scheduled_campaign_stays_pending_and_can_be_deleted(sandbox: SandboxServer, http: requests.Session) -> None:
    created = create(sandbox, http, campaign_body(scheduledTimestamp="2999-01-01T10:00:00-05:00")).json()
    assert created["status"] == "PENDING"
    assert created["scheduledTimestamp"] == "2999-01-01T15:00:00.000+00:00"
    stats_url = f"{sandbox.api_url}/v2/messages/campaign/{created['id']}/stats"
    assert http.get(stats_url, headers=auth()).json()["pendingCount"] == 2

    deleted = http.delete(f"{sandbox.api_url}/campaigns/{created['id']}", headers=auth())
    assert (deleted.status_code, deleted.json()) == (200, {"message": "deleted successfully"})
    assert http.get(f"{sandbox.api_url}/clients/{CID}/campaigns", headers=auth()).json() == []
    assert http.get(stats_url, headers=auth()).status_code == 404
    assert http.delete(f"{sandbox.api_url}/campaigns/{created['id']}", headers=auth()).status_code == 404
    assert sandbox.campaigns() == []


def test_delete_errors(sandbox: SandboxServer, http: requests.Session) -> None:
    sent = create(sandbox, http).json()
    response = http.delete(f"{sandbox.api_url}/campaigns/{sent['id']}", headers=auth())
    assert (response.status_code, response.json()) == (400, {"message": "campaign already sent"})
    assert len(sandbox.campaigns()) == 1
    assert http.delete(f"{sandbox.api_url}/campaigns/424242", headers=auth()).status_code == 404
    assert http.delete(f"{sandbox.api_url}/campaigns/abc", headers=auth()).status_code == 400
    assert http.get(f"{sandbox.api_url}/v2/messages/campaign/424242/stats", headers=auth()).status_code == 404
    endpoints = [e["endpoint"] for e in sandbox.requests_seen()]
    assert endpoints == ["create_campaign", "cancel", "cancel", "cancel", "stats"]


def test_unknown_path_and_wrong_method(sandbox: SandboxServer, http: requests.Session) -> None:
    missing = http.get(f"{sandbox.api_url}/nothing/here", headers=auth())
    assert missing.status_code == 404
    assert missing.json()["error"] == "Not Found"
    assert http.get(f"{sandbox.base_url}/elsewhere").status_code == 404
    wrong = http.get(f"{sandbox.base_url}/upload/url", headers=auth())
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"
    assert http.delete(f"{sandbox.base_url}/s3/{CID}/campaign/a.png").status_code == 405
    assert http.get(f"{sandbox.base_url}/_sandbox/nothing").status_code == 404
    assert http.put(f"{sandbox.base_url}/_sandbox/reset").status_code == 405
    assert [(e["endpoint"], e["status"]) for e in sandbox.requests_seen()] == [
        (None, 404),
        (None, 404),
        (None, 405),
        (None, 405),
    ]


# --------------------------------------------------------------------------- faults


def test_fault_reset_before_drops_connection_without_acting(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "reset_before")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sandbox, http)
    assert sandbox.campaigns() == []
    entry = sandbox.requests_seen()[-1]
    assert (entry["fault"], entry["status"], entry["endpoint"]) == ("reset_before", None, "create_campaign")
    assert create(sandbox, http).status_code == 200  # fault used up, session recovers
    assert len(sandbox.campaigns()) == 1


def test_fault_reset_after_acts_then_drops_connection(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "reset_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sandbox, http)
    assert [c["id"] for c in sandbox.campaigns()] == [1001]
    assert (sandbox.requests_seen()[-1]["fault"], sandbox.requests_seen()[-1]["status"]) == ("reset_after", None)


def test_fault_delay_acts_then_responds_late(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "delay", seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(sandbox, http, timeout=0.5)
    assert [c["id"] for c in sandbox.campaigns()] == [1001]
    entry = sandbox.requests_seen()[-1]
    assert (entry["fault"], entry["status"]) == ("delay", 200)


def test_fault_status_with_retry_after_does_not_act(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "status", times=2, status=503, retry_after=2)
    sandbox.add_fault("create_campaign", "status", status=429)
    for expected in (503, 503, 429):
        response = create(sandbox, http)
        assert response.status_code == expected
        assert response.json() == {"error": "injected", "status": expected}
    assert create(sandbox, http).status_code == 200
    assert len(sandbox.campaigns()) == 1
    assert [e.get("fault") for e in sandbox.requests_seen()] == ["status", "status", "status", None]


def test_fault_after_lets_requests_through_first(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "status", status=500, after=2)
    assert [create(sandbox, http).status_code for _ in range(4)] == [200, 200, 500, 200]
    assert len(sandbox.campaigns()) == 3
    assert [e.get("fault") for e in sandbox.requests_seen()] == [None, None, "status", None]


@pytest.mark.parametrize("status", [204, 304])
def test_fault_status_without_body_keeps_the_connection_in_step(sandbox: SandboxServer, status: int) -> None:
    """204 and 304 end with their headers: a body or Content-Length would be read as the next response."""
    sandbox.add_fault("list_campaigns", "status", status=status, retry_after=1)
    request = f"GET /api/clients/{CID}/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", int(sandbox.base_url.rsplit(":", 1)[1]))) as conn:
        conn.sendall(request.encode() * 2)
        conn.settimeout(10)  # a missing reply fails the test instead of blocking it
        received = b""
        while not received.endswith(b"\r\n\r\n[]"):
            chunk = conn.recv(65536)
            assert chunk, received
            received += chunk
    head, rest = received.split(b"\r\n\r\n", 1)
    assert head.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nRetry-After: 1" in head
    assert b"Content-Length" not in head and b"Content-Type" not in head
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("status", [100, 101, 199, 600])
def test_fault_status_outside_200_to_599_is_refused(
    sandbox: SandboxServer, http: requests.Session, status: int
) -> None:
    with pytest.raises(ValueError, match=r"^status: must be an HTTP status code from 200 to 599$"):
        sandbox.add_fault("stats", "status", status=status)
    response = http.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"endpoint": "stats", "action": "status_after", "status": status}
    )
    assert (response.status_code, response.json()["message"]) == (
        400,
        "fault.status: must be an HTTP status code from 200 to 599",
    )
    sandbox.add_fault("stats", "status", status=200)
    assert [fault["status"] for fault in http.get(f"{sandbox.base_url}/_sandbox/faults").json()["faults"]] == [200]


@pytest.mark.parametrize("name", ["seconds", "retry_after"])
@pytest.mark.parametrize("value", [86400.5, 9.3e9, 10**20])
def test_fault_seconds_over_a_day_are_refused(
    sandbox: SandboxServer, http: requests.Session, name: str, value: float
) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: must be a number from 0 to 86400$"):
        sandbox.add_fault("stats", "delay", **{name: value})
    response = http.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"endpoint": "stats", "action": "delay", name: value}
    )
    assert (response.status_code, response.json()["message"]) == (
        400,
        f"fault.{name}: must be a number from 0 to 86400",
    )
    sandbox.add_fault("stats", "delay", **{name: 86400})
    assert [fault[name] for fault in http.get(f"{sandbox.base_url}/_sandbox/faults").json()["faults"]] == [86400]


def test_fault_status_sends_retry_after_header(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("list_campaigns", "status", retry_after=1.5)
    response = http.get(f"{sandbox.api_url}/clients/{CID}/campaigns", headers=auth())
    assert (response.status_code, response.headers["Retry-After"]) == (503, "2")
    sandbox.add_fault("list_campaigns", "status", status=500)
    assert "Retry-After" not in http.get(f"{sandbox.api_url}/clients/{CID}/campaigns", headers=auth()).headers


def test_fault_status_after_acts_then_fails(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "status_after", status=502)
    response = create(sandbox, http)
    assert response.status_code == 502
    assert response.json() == {"error": "injected", "status": 502}
    assert len(sandbox.campaigns()) == 1
    assert sandbox.requests_seen()[-1]["status"] == 502


def test_fault_malformed_json_does_not_act(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "malformed_json")
    response = create(sandbox, http)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()
    assert sandbox.campaigns() == []


def test_fault_reject_put(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("put", "reject_put")
    url = signed_url(sandbox, http)
    response = http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (403, "AccessDenied")
    assert sandbox.files() == {}
    assert http.put(url, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200


def test_fault_slow_put(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("put", "slow_put")
    url = signed_url(sandbox, http)
    response = http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    assert (response.status_code, s3_code(response)) == (400, "RequestTimeout")
    assert sandbox.files() == {}
    assert http.put(url, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200


def test_fault_lose_put(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("put", "lose_put")
    url = signed_url(sandbox, http)
    assert http.put(url, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    assert sandbox.files() == {}
    assert http.put(url, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    assert len(sandbox.files()) == 1


def test_later_fault_counts_after_only_once_earlier_faults_are_used_up(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    sandbox.add_fault("create_campaign", "status", status=500)
    sandbox.add_fault("create_campaign", "status", status=502, after=1)
    assert [create(sandbox, http).status_code for _ in range(4)] == [500, 200, 502, 200]


def test_faults_over_http_control_endpoint(sandbox: SandboxServer, http: requests.Session) -> None:
    faults_url = f"{sandbox.base_url}/_sandbox/faults"
    added = http.post(
        faults_url,
        json=[
            {"endpoint": "stats", "action": "status", "status": 500},
            {"endpoint": "upload_url", "action": "reset_before", "times": 2, "after": 1},
        ],
    )
    assert added.status_code == 200
    faults = [(f["endpoint"], f["times"], f["after"]) for f in added.json()["faults"]]
    assert faults == [("stats", 1, 0), ("upload_url", 2, 1)]
    assert http.post(faults_url, json={"endpoint": "cancel", "action": "delay", "seconds": 0}).status_code == 200
    assert len(http.get(faults_url).json()["faults"]) == 3
    assert http.get(f"{sandbox.api_url}/v2/messages/campaign/1/stats", headers=auth()).status_code == 500
    assert http.delete(faults_url).json() == {"faults": []}
    assert http.get(f"{sandbox.api_url}/v2/messages/campaign/1/stats", headers=auth()).status_code == 404
    for bad in (
        {"endpoint": "nope", "action": "status"},
        {"endpoint": "put", "action": "explode"},
        {"endpoint": "stats", "action": "expire_url"},
        {"endpoint": "upload_url", "action": "reject_put"},
        {"endpoint": "stats", "action": "lose_put"},
        {"endpoint": "stats", "action": "status", "times": 0},
        {"endpoint": "stats", "action": "status", "after": -1},
        {"endpoint": "stats", "action": "status", "after": True},
        {"endpoint": "stats", "action": "status", "colour": "red"},
        [{"endpoint": "stats", "action": "status"}, "x"],
    ):
        response = http.post(faults_url, json=bad)
        assert response.status_code == 400, bad
    assert http.get(faults_url).json() == {"faults": []}  # nothing half-added


def test_add_fault_rejects_invalid_arguments(sandbox: SandboxServer) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        sandbox.add_fault("unknown", "status")
    with pytest.raises(ValueError, match="seconds"):
        sandbox.add_fault("stats", "delay", seconds=-1)
    with pytest.raises(ValueError, match="status"):
        sandbox.add_fault("stats", "status", status=42)
    with pytest.raises(ValueError, match="after"):
        sandbox.add_fault("stats", "status", after=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retry_after"):
        sandbox.add_fault("stats", "status", retry_after=float("inf"))
    with pytest.raises(ValueError, match="seconds"):
        sandbox.add_fault("stats", "delay", seconds=10**400)


def test_clear_faults_and_reset(sandbox: SandboxServer, http: requests.Session) -> None:
    sandbox.add_fault("create_campaign", "status")
    sandbox.clear_faults()
    assert create(sandbox, http).status_code == 200
    http.put(signed_url(sandbox, http), data=PNG, headers={"Content-Type": "image/png"})
    sandbox.add_fault("create_campaign", "status")
    assert http.post(f"{sandbox.base_url}/_sandbox/reset").json() == {"reset": True}
    assert (sandbox.campaigns(), sandbox.files(), sandbox.requests_seen()) == ([], {}, [])
    assert sandbox.issued_signatures() == []
    assert create(sandbox, http).json()["id"] == 1001
    sandbox.reset()
    assert sandbox.campaigns() == []


# --------------------------------------------------------------------------- journal, secrets, lifecycle


def test_journal_has_no_secrets_and_is_written_to_file(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, tmp_path: Path
) -> None:
    journal_file = tmp_path / "journal.jsonl"
    sb = make_sandbox(journal_path=str(journal_file))
    url = signed_url(sb, http)
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    http.put(url, data=PNG, headers={"Content-Type": "image/gif"})
    http.get(f"{sb.api_url}/clients/{CID}/storedUrl", params={"fileKey": f"{CID}/campaign/logo.png"}, headers=auth())
    create(sb, http, campaign_body(pictureFileKey=f"{CID}/campaign/logo.png"))
    http.get(f"{sb.api_url}/clients/{CID}/campaigns", headers=auth("wrong-key"))
    sb.add_fault("stats", "reset_before")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(f"{sb.api_url}/v2/messages/campaign/1001/stats", headers=auth())

    journal = sb.requests_seen()
    assert [e["endpoint"] for e in journal] == [
        "upload_url",
        "put",
        "put",
        "stored_url",
        "create_campaign",
        "list_campaigns",
        "stats",
    ]
    assert [e["seq"] for e in journal] == list(range(1, 8))
    assert [e["auth"] for e in journal] == ["ok", "n/a", "n/a", "ok", "ok", "invalid", "ok"]
    assert [e["status"] for e in journal] == [200, 200, 403, 200, 200, 401, None]
    put = journal[1]
    assert put["query_keys"] == [
        "X-Amz-Algorithm",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
        "X-Amz-Signature",
    ]
    assert (put["content_type"], put["size"], put["sha256"]) == ("image/png", len(PNG), hashlib.sha256(PNG).hexdigest())
    assert put["path"] == f"/s3/{CID}/campaign/logo.png"
    assert journal[0]["json"]["fileName"] == "logo.png"
    assert journal[3]["file_key"] == f"{CID}/campaign/logo.png"
    assert journal[4]["json"]["pictureFileKey"] == f"{CID}/campaign/logo.png"
    assert journal[6]["fault"] == "reset_before"

    from_http = http.get(f"{sb.base_url}/_sandbox/requests").json()
    file_entries = [json.loads(line) for line in journal_file.read_text().splitlines()]
    assert from_http == journal
    assert file_entries == journal
    for text in (json.dumps(journal), journal_file.read_text()):
        assert API_KEY not in text
        assert signature not in text
        assert "wrong-key" not in text


@pytest.mark.parametrize("where", ["missing directory", "directory"])
def test_start_fails_on_a_journal_that_cannot_be_opened(tmp_path: Path, where: str) -> None:
    journal_path = tmp_path / "missing" / "journal.jsonl" if where == "missing directory" else tmp_path
    server = SandboxServer(API_KEY, journal_path=str(journal_path))
    with pytest.raises(OSError, match=f"^cannot append to journal file {re.escape(str(journal_path))}: "):
        server.start()
    with pytest.raises(RuntimeError, match="not started"):
        server.base_url  # noqa: B018 - the property raises when nothing was bound


def test_journal_file_created_at_start_and_write_failure_reported(
    make_sandbox: Callable[..., SandboxServer],
    http: requests.Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    journal_file = tmp_path / "journal.jsonl"
    sb = make_sandbox(journal_path=str(journal_file))
    assert journal_file.read_text() == ""
    assert create(sb, http).status_code == 200
    journal_file.unlink()
    journal_file.mkdir()  # appending now fails
    assert create(sb, http).status_code == 200
    assert [entry["status"] for entry in http.get(f"{sb.base_url}/_sandbox/requests").json()] == [200, 200]
    err = capsys.readouterr().err
    assert err.startswith(f"ccai-sandbox: journal entry 2 not written to {journal_file}: ")
    assert err.count("\n") == 1


def test_connection_uri_json(sandbox: SandboxServer) -> None:
    assert sandbox.api_url == sandbox.base_url + "/api"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.base_url)
    assert json.loads(sandbox.connection_uri_json(CID)) == {
        "conn_type": "ccai",
        "login": CID,
        "password": API_KEY,
        "host": sandbox.api_url,
        "extra": {"files_url": sandbox.base_url},
    }


def test_issued_signatures_lists_each_signed_url_handed_out(sandbox: SandboxServer, http: requests.Session) -> None:
    urls = [signed_url(sandbox, http, "a.png"), signed_url(sandbox, http, "b.gif", "image/gif")]

    signatures = [parse_qs(urlsplit(url).query)["X-Amz-Signature"][0] for url in urls]
    assert sandbox.issued_signatures() == signatures
    assert len(set(signatures)) == 2
    assert not [s for s in signatures if s in json.dumps(sandbox.requests_seen())]  # never journaled

    for status in (503, 200):  # a URL made, then another answer (even a 200) sent instead
        sandbox.add_fault("upload_url", "status_after", status=status)
        answer = http.post(
            f"{sandbox.base_url}/upload/url",
            json={"fileName": "c.png", "fileType": "image/png", "fileBasePath": "1234/campaign", "publicFile": True},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert answer.status_code == status and "signedS3Url" not in answer.json()
    assert sandbox.issued_signatures() == signatures  # not handed out


def test_verbose_log_redacts_signature(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox(verbose=True)
    url = signed_url(sb, http)
    http.put(url, data=PNG, headers={"Content-Type": "image/png"})
    err = capsys.readouterr().err
    assert "PUT /s3/1234/campaign/logo.png?" in err
    assert "X-Amz-Signature=<redacted>" in err
    assert parse_qs(urlsplit(url).query)["X-Amz-Signature"][0] not in err
    assert API_KEY not in err


def test_verbose_log_escapes_control_characters(
    make_sandbox: Callable[..., SandboxServer], capsys: pytest.CaptureFixture[str]
) -> None:
    sb = make_sandbox(verbose=True)
    with socket.create_connection(("127.0.0.1", int(sb.base_url.rsplit(":", 1)[1])), timeout=10) as client:
        client.sendall(b"GET /a\x1b[2J\x07\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = client.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 404 ")
    err = capsys.readouterr().err
    assert '"GET /a\\x1b[2J\\x07\\\\b HTTP/1.1" 404' in err  # as http.server's own log_message escapes
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", err)


def test_quiet_by_default(sandbox: SandboxServer, http: requests.Session, capsys: pytest.CaptureFixture[str]) -> None:
    create(sandbox, http)
    http.get(f"{sandbox.base_url}/nothing")
    assert capsys.readouterr() == ("", "")


def test_keep_alive_session_reuses_one_connection(sandbox: SandboxServer) -> None:
    with socket.create_connection(("127.0.0.1", int(sandbox.base_url.rsplit(":", 1)[1]))) as conn:
        request = (
            f"GET /api/clients/{CID}/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"
        ).encode()
        conn.sendall(request + request)
        conn.settimeout(10)  # a missing reply fails the test instead of blocking it
        received = b""
        while received.count(b"\r\n\r\n[]") < 2:
            chunk = conn.recv(65536)
            assert chunk, received
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.count(b"Content-Length: 2\r\n") == 2


def test_stop_does_not_hang_on_clients_mid_request(make_sandbox: Callable[..., SandboxServer]) -> None:
    sb = make_sandbox()
    port = int(sb.base_url.rsplit(":", 1)[1])
    half_headers = socket.create_connection(("127.0.0.1", port))
    half_body = socket.create_connection(("127.0.0.1", port))
    try:
        half_headers.sendall(b"GET /api/clients/1/campaigns HTTP/1.1\r\nHost: x\r\n")
        half_body.sendall(b'POST /upload/url HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"fileName"')
        sb.add_fault("list_campaigns", "delay", seconds=3600)  # held far longer than the bound below
        delayed = socket.create_connection(("127.0.0.1", port))
        delayed.sendall(
            f"GET /api/clients/1/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n".encode()
        )
        assert wait_until(lambda: len(sb.requests_seen()) == 1)  # the delayed request is being held
        stopper = threading.Thread(target=sb.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=120)  # bounds the test; a stop() that waited for the held request would take an hour
        assert not stopper.is_alive()
        delayed.close()
    finally:
        half_headers.close()
        half_body.close()


#: the installed console script (pyproject's [project.scripts]) and the module form
CLI_COMMANDS = {
    "ccai-sandbox": [str(Path(sys.executable).with_name("ccai-sandbox"))],
    "python -m": [sys.executable, "-m", "airflow_provider_ccai.sandbox"],
}


def test_printed_connection_line_works_as_pasted_with_the_default_key() -> None:
    from airflow_provider_ccai.sandbox.__main__ import DEFAULT_API_KEY, connection_line

    sandbox = SandboxServer(DEFAULT_API_KEY, send_seconds=0.0).start()
    try:
        line = connection_line(DEFAULT_API_KEY, None, sandbox.api_url, sandbox.base_url)
        connection = json.loads(line.removeprefix("export AIRFLOW_CONN_CCAI_DEFAULT='").removesuffix("'"))
        response = requests.get(
            f"{connection['host']}/clients/{connection['login']}/campaigns",
            headers={"Authorization": f"Bearer {connection['password']}"},
            timeout=10,
        )
    finally:
        sandbox.stop()
    assert response.status_code == 200
    own_key = connection_line("my-own-key", "42", sandbox.api_url, sandbox.base_url)
    assert "my-own-key" not in own_key and '"password": "<api-key>"' in own_key and '"login": "42"' in own_key


def cli_environment() -> dict[str, str]:
    """The environment a CLI subprocess runs in: this one, with the repository importable."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("command", CLI_COMMANDS.values(), ids=CLI_COMMANDS.keys())
def test_cli_runs_in_a_subprocess(tmp_path: Path, command: list[str]) -> None:
    ready = tmp_path / "ready.txt"
    journal = tmp_path / "journal.jsonl"
    env = cli_environment()
    env.pop("CCAI_SANDBOX_API_KEY", None)
    proc = subprocess.Popen(
        [
            *command,
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--client-id",
            CID,
            "--send-seconds",
            "0",
            "--journal",
            str(journal),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        text=True,
    )
    try:
        assert wait_until(lambda: ready.exists() or proc.poll() is not None, attempts=1200)
        assert proc.poll() is None, proc.communicate()
        base_url = ready.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        response = requests.get(f"{base_url}/api/clients/{CID}/campaigns", headers=auth(), timeout=10)
        assert (response.status_code, response.json()) == (200, [])
        assert requests.get(f"{base_url}/api/clients/{CID}/campaigns", timeout=10).status_code == 401
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == f"ccai-sandbox listening on {base_url}"
    assert "AIRFLOW_CONN_CCAI_DEFAULT=" in lines[1]
    assert "<api-key>" in lines[1]
    assert f'"login": "{CID}"' in lines[1]
    assert API_KEY not in stdout + stderr
    assert [json.loads(line)["auth"] for line in journal.read_text().splitlines()] == ["ok", "missing"]


def run_cli_expecting_exit(arguments: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the CLI that should exit at once; return its exit code, stdout and stderr (killed if it serves)."""
    env = cli_environment()
    proc = subprocess.Popen(
        [*CLI_COMMANDS["python -m"], *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=60)  # a sandbox that started anyway would run until killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout, stderr


def test_cli_exits_naming_a_journal_it_cannot_open(tmp_path: Path) -> None:
    journal = tmp_path / "missing" / "journal.jsonl"
    code, stdout, stderr = run_cli_expecting_exit(["--port", "0", "--journal", str(journal)], tmp_path)
    assert code == 1
    assert stdout == ""
    assert stderr.startswith(f"ccai-sandbox: cannot append to journal file {journal}: ")
    assert stderr.count("\n") == 1  # one line, no traceback


def test_cli_exits_in_one_line_when_its_port_is_taken(
    make_sandbox: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    port = make_sandbox().base_url.rsplit(":", 1)[1]
    code, stdout, stderr = run_cli_expecting_exit(["--port", port], tmp_path)
    assert (code, stdout) == (1, "")
    assert stderr.startswith("ccai-sandbox: ") and "Address already in use" in stderr
    assert stderr.count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--port", "70000"], "argument --port: expected a port from 0 to 65535, got '70000'"),
        (["--client-id", "abc"], "argument --client-id: expected a positive integer client id, got 'abc'"),
        (["--client-id", "0"], "argument --client-id: expected a positive integer client id, got '0'"),
        (["--send-seconds", "-1"], "argument --send-seconds: expected a number of seconds from 0 to 86400, got '-1'"),
        (["--send-seconds", "nan"], "argument --send-seconds: expected a number of seconds from 0 to 86400"),
        (["--url-ttl", "0"], "argument --url-ttl: expected a whole number of seconds from 1 to 604800, got '0'"),
    ],
)
def test_cli_refuses_arguments_the_sandbox_cannot_serve(
    arguments: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-numeric --client-id would print a connection line the hook refuses and every request would fail."""
    from airflow_provider_ccai.sandbox.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err
