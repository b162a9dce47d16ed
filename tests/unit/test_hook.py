"""Unit tests of :class:`CloudContactHook`: connection parsing, wire format, retries, secrets."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from unittest import mock

import pytest
import requests
import responses
import urllib3

from airflow_provider_ccai.exceptions import (
    CcaiAmbiguousResultError,
    CcaiApiError,
    CcaiConnectionError,
    CcaiConnectionNotFoundError,
    CcaiInputError,
    CcaiRejectedError,
    CcaiTransientError,
)
from airflow_provider_ccai.hooks.ccai import (
    DEFAULT_API_URL,
    DEFAULT_FILES_URL,
    CloudContactHook,
    public_fields,
)
from airflow_provider_ccai.version_compat import AirflowFailException, AirflowNotFoundException
from tests.conftest import CLIENT_ID, UNIT_API_URL, UNIT_FILES_URL, connection_json
from tests.unit import CapturedLogs, capture_logs, frozen_clock

API_KEY = "unit-test-api-key-XYZ"
SIGNATURE = "5f0e8d2c9a1b7e3f4d6c8b0a2e4f6a8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a"
SECURITY_TOKEN = "FQoGZXIvYXdzSECRETSESSIONTOKEN0123456789"
CREDENTIAL = "AKIAEXAMPLEACCESSKEY/20250101/us-east-1/s3/aws4_request"
SIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLEACCESSKEY%2F20250101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20250101T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=content-type%3Bhost"
    f"&X-Amz-Security-Token={SECURITY_TOKEN}&X-Amz-Signature={SIGNATURE}"
)
S3 = "https://ccai-bucket.s3.test"
SIGNED_URL = f"{S3}/{CLIENT_ID}/campaign/pic.png?{SIGNED_QUERY}"
SIGNED_URL_2 = f"{S3}/{CLIENT_ID}/campaign/pic.png?{SIGNED_QUERY.replace(SIGNATURE, 'f' * 64)}"
#: values that must never reach an exception message or a log record (an access key id alone is not secret)
SECRETS = (API_KEY, SIGNATURE, "f" * 64, SECURITY_TOKEN, CREDENTIAL, SIGNED_QUERY)

CREATE_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/campaigns/direct"
LIST_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/campaigns"
STORED_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/storedUrl"
UPLOAD_URL = f"{UNIT_FILES_URL}/upload/url"
STATS = {"errorCount": 0, "pendingCount": 1, "sendingCount": 2, "sentCount": 3, "totalCount": 6}
PAYLOAD = {
    "accounts": [{"firstName": "Ann", "lastName": "Lee", "phone": "+15550001111"}],
    "message": "Hi ${firstName}",
    "title": "Weekly offer",
}
EXPIRED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired</Message><X-Amz-Expires>86400</X-Amz-Expires></Error>"
)


def refused() -> requests.ConnectionError:
    """What ``requests`` raises when nothing listens on the port: the request never left."""
    return requests.ConnectionError(
        urllib3.exceptions.NewConnectionError(
            None, "Failed to establish a new connection: [Errno 111] Connection refused"
        )
    )


def dropped() -> requests.ConnectionError:
    """What ``requests`` raises when the server resets the connection after the request was sent."""
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    )


@pytest.fixture(autouse=True)
def sleeps(mocker: Any) -> mock.MagicMock:
    """No test really sleeps; tenacity's ``sleep`` ends in ``time.sleep``."""
    return mocker.patch("time.sleep")


@pytest.fixture
def hook(ccai_conn: dict[str, str]) -> CloudContactHook:
    return CloudContactHook(max_attempts=3, backoff_initial=0, backoff_max=0)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    with capture_logs(caplog) as captured:
        yield captured


def set_connection(monkeypatch: pytest.MonkeyPatch, value: dict[str, Any] | str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_DEFAULT", value if isinstance(value, str) else json.dumps(value))


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# -- connection -------------------------------------------------------------------------------------


def test_connection_attributes() -> None:
    assert CloudContactHook.conn_name_attr == "ccai_conn_id"
    assert CloudContactHook.default_conn_name == "ccai_default"
    assert CloudContactHook.conn_type == "ccai"
    assert CloudContactHook.hook_name == "CloudContactAI"
    assert CloudContactHook().ccai_conn_id == "ccai_default"
    assert CloudContactHook("other").ccai_conn_id == "other"


def test_init_looks_nothing_up_and_settings_are_read_once(mocker: Any, ccai_conn: dict[str, str]) -> None:
    lookup = mocker.patch.object(CloudContactHook, "get_connection", wraps=CloudContactHook.get_connection)
    session = mocker.patch.object(requests, "Session", wraps=requests.Session)
    hook = CloudContactHook(timeout=5, connect_timeout=2, max_attempts=2, backoff_initial=0, backoff_max=0)
    assert lookup.call_count == 0
    assert session.call_count == 0
    assert hook.client_id == CLIENT_ID
    assert hook.settings.api_key == API_KEY
    assert hook.file_key("a.png") == f"{CLIENT_ID}/campaign/a.png"
    assert lookup.call_args_list == [mock.call("ccai_default")]
    assert session.call_count == 0


def test_missing_connection_names_the_conn_id(mocker: Any, http: responses.RequestsMock) -> None:
    mocker.patch.object(
        CloudContactHook, "get_connection", side_effect=AirflowNotFoundException("The conn_id isn't defined")
    )
    with pytest.raises(CcaiConnectionNotFoundError, match="'my_ccai' is not defined") as raised:
        CloudContactHook("my_ccai").list_campaigns()
    assert "AIRFLOW_CONN_MY_CCAI" in str(raised.value)
    # Airflow answers "not defined" when a secrets backend could not be reached too: a retry may succeed
    assert not isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0


BAD_CONNECTIONS = {
    "no login": ({"login": ""}, r"no client id: set its 'login'"),
    "blank login": ({"login": "   "}, r"no client id: set its 'login'"),
    "non-numeric client id": ({"login": "acme"}, r"'login' \(Client ID\) must be the numeric"),
    "negative client id": ({"login": "-12"}, r"'login' \(Client ID\) must be the numeric"),
    "client id in Arabic-Indic digits": ({"login": "١٢٣"}, r"'login' \(Client ID\) must be the numeric"),
    "no API key": ({"api_key": ""}, r"no API key: set its 'password'"),
    "zero-width space in API key": ({"api_key": API_KEY + "\u200b"}, r"'password' \(API Key\) holds a space"),
    "curly quote in API key": ({"api_key": "\u201c" + API_KEY}, r"'password' \(API Key\) holds a space"),
    "space inside API key": ({"api_key": API_KEY[:4] + " " + API_KEY[4:]}, r"'password' \(API Key\) holds a space"),
    "line break inside API key": ({"api_key": API_KEY + "\nx"}, r"'password' \(API Key\) holds a space"),
    "garbage host": ({"host": "not a url"}, r"host must be an http\(s\) URL, got 'not a url'"),
    "host without scheme": ({"host": "core.ccai.test/api"}, r"host must be an http\(s\) URL"),
    "host scheme only": ({"host": "https://"}, r"host must be an http\(s\) URL"),
    "ftp host": ({"host": "ftp://core.ccai.test"}, r"host must be an http\(s\) URL"),
    "garbage files_url": ({"files_url": "files.ccai.test"}, r"files_url must be an http\(s\) URL"),
    "host port not a number": ({"host": "http://127.0.0.1:80a/api"}, r"host must be an http\(s\) URL"),
    "host port out of range": ({"host": "http://127.0.0.1:70000/api"}, r"host must be an http\(s\) URL"),
    "host port 0": ({"host": "http://127.0.0.1:0/api"}, r"host must be an http\(s\) URL"),
    "space in host": ({"host": "http://core ccai.test/api"}, r"host must be an http\(s\) URL"),
    "host with a password and a bad port": (
        {"host": "https://admin:s3cr3tPass@core.ccai.test:99999/api"},
        r"host must be an http\(s\) URL, got 'https://admin:\*\*\*@core\.ccai\.test:99999/api'\.$",
    ),
    "unclosed IPv6 host": ({"host": "https://[::1/api"}, r"host must be an http\(s\) URL"),
    "files_url without host": ({"files_url": "https://:8443"}, r"files_url must be an http\(s\) URL"),
    "text timeout": ({"timeout": "soon"}, r"timeout must be a positive number of at most 86400, got 'soon'"),
    "zero timeout": ({"timeout": 0}, r"timeout must be a positive number of at most 86400, got 0"),
    "negative timeout": ({"timeout": "-3"}, r"timeout must be a positive number"),
    "bad connect_timeout": ({"connect_timeout": "x"}, r"connect_timeout must be a positive number"),
    "zero max_attempts": ({"max_attempts": "0"}, r"max_attempts must be a positive whole number"),
    "fractional max_attempts": (
        {"max_attempts": "0.5"},
        r"max_attempts must be a positive whole number of at most 100, got '0.5'",
    ),
    "max_attempts 1.9": (
        {"max_attempts": 1.9},
        r"max_attempts must be a positive whole number of at most 100, got 1.9",
    ),
    "timeout that would overflow the socket layer": (
        {"timeout": 1e10},
        r"timeout must be a positive number of at most 86400, got 10000000000\.0",
    ),
    "connect_timeout over a day": (
        {"connect_timeout": "86401"},
        r"connect_timeout must be a positive number of at most",
    ),
    "max_attempts over 100": ({"max_attempts": 101}, r"max_attempts must be a positive whole number of at most 100"),
    "JSON true as timeout": ({"timeout": True}, r"timeout must be a positive number of at most 86400, got True"),
    "JSON true as max_attempts": ({"max_attempts": True}, r"max_attempts must be a positive whole number"),
    "files_url a number": ({"files_url": 8787}, r"files_url must be an http\(s\) URL, got a int\.$"),
    "files_url an object": ({"files_url": {"url": "x"}}, r"files_url must be an http\(s\) URL, got a dict\.$"),
}


@pytest.mark.parametrize(("change", "expected"), BAD_CONNECTIONS.values(), ids=BAD_CONNECTIONS.keys())
def test_bad_connection_fails_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock, change: dict[str, Any], expected: str
) -> None:
    fields: dict[str, Any] = {"host": UNIT_API_URL, "files_url": UNIT_FILES_URL, "api_key": API_KEY}
    fields.update(change)
    set_connection(monkeypatch, connection_json(**fields))
    with pytest.raises(CcaiConnectionError, match=expected) as raised:
        CloudContactHook().list_campaigns()
    assert "'ccai_default'" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert_no_secrets(str(raised.value))
    assert len(http.calls) == 0


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"timeout": -1}, "argument timeout: expected more than 0 seconds, got -1"),
        ({"connect_timeout": 86_401}, "argument connect_timeout: expected at most 86400, got 86401"),
        ({"max_attempts": 0}, "argument max_attempts: expected a whole number of 1 or more, got 0"),
        ({"backoff_initial": -5}, "argument backoff_initial: expected 0 or more seconds, got -5"),
        ({"backoff_max": "x"}, "argument backoff_max: expected a number, got str"),
    ],
)
def test_hook_arguments_fail_naming_the_argument_when_the_hook_is_made(
    ccai_conn: dict[str, str], http: responses.RequestsMock, arguments: dict[str, Any], expected: str
) -> None:
    """An argument is the caller's mistake, not the connection's, and a retry cannot fix it."""
    with pytest.raises(CcaiInputError, match=f"^CloudContactHook {expected}$"):
        CloudContactHook(**arguments)
    assert len(http.calls) == 0


def test_hook_arguments_override_the_connections_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, connection_json(UNIT_API_URL, UNIT_FILES_URL, API_KEY, max_attempts=7))
    settings = CloudContactHook(timeout=12, connect_timeout=3, max_attempts=2).settings
    assert (settings.read_timeout, settings.connect_timeout, settings.max_attempts) == (12.0, 3.0, 2)
    assert CloudContactHook().settings.max_attempts == 7


def test_defaults_when_host_and_extras_are_empty(monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock) -> None:
    set_connection(monkeypatch, {"conn_type": "ccai", "login": CLIENT_ID, "password": API_KEY})
    http.get(f"{DEFAULT_API_URL}/clients/{CLIENT_ID}/campaigns", json=[])
    http.post(f"{DEFAULT_FILES_URL}/upload/url", json={"signedS3Url": SIGNED_URL})
    hook = CloudContactHook()
    assert DEFAULT_API_URL == "https://core.cloudcontactai.com/api"
    assert DEFAULT_FILES_URL == "https://files.cloudcontactai.com"
    assert (hook.settings.api_url, hook.settings.files_url) == (DEFAULT_API_URL, DEFAULT_FILES_URL)
    assert hook.settings.max_attempts == 5
    assert hook.list_campaigns() == []
    assert hook._request_upload_url("a.png", "image/png") == SIGNED_URL
    assert [call.request.req_kwargs["timeout"] for call in http.calls] == [(10.0, 30.0), (10.0, 30.0)]


def test_trailing_slash_on_host_is_ignored(monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock) -> None:
    set_connection(monkeypatch, connection_json(UNIT_API_URL + "/", UNIT_FILES_URL + "/", API_KEY))
    http.get(LIST_URL, json=[])
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    hook = CloudContactHook()
    hook.list_campaigns()
    hook._request_upload_url("a.png", "image/png")
    assert [call.request.url for call in http.calls] == [LIST_URL, UPLOAD_URL]


def test_timeout_spy_on_session_request(mocker: Any, ccai_conn: dict[str, str], http: responses.RequestsMock) -> None:
    http.get(LIST_URL, json=[])
    spy = mocker.spy(requests.Session, "request")
    CloudContactHook().list_campaigns()
    assert spy.call_count == 1
    assert spy.call_args.kwargs["timeout"] == (10.0, 30.0)
    assert spy.call_args.kwargs["allow_redirects"] is False


@pytest.mark.parametrize(
    ("extra", "arguments", "expected"),
    [
        ({"timeout": "45"}, {}, (10.0, 45.0)),
        ({"timeout": 45, "connect_timeout": 3}, {}, (3.0, 45.0)),
        ({"timeout": "45", "connect_timeout": "3"}, {"timeout": 7}, (3.0, 7.0)),
        ({}, {"timeout": 7, "connect_timeout": 1.5}, (1.5, 7.0)),
    ],
)
def test_timeout_extras_and_arguments(
    monkeypatch: pytest.MonkeyPatch,
    http: responses.RequestsMock,
    extra: dict[str, Any],
    arguments: dict[str, Any],
    expected: tuple[float, float],
) -> None:
    set_connection(monkeypatch, connection_json(UNIT_API_URL, UNIT_FILES_URL, API_KEY, **extra))
    http.get(LIST_URL, json=[])
    CloudContactHook(**arguments).list_campaigns()
    assert http.calls[0].request.req_kwargs["timeout"] == expected


def test_max_attempts_extra(monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock) -> None:
    set_connection(monkeypatch, connection_json(UNIT_API_URL, UNIT_FILES_URL, API_KEY, max_attempts="2"))
    http.get(LIST_URL, status=503)
    with pytest.raises(CcaiTransientError):
        CloudContactHook(backoff_initial=0, backoff_max=0).list_campaigns()
    assert len(http.calls) == 2


def test_one_session_per_hook(mocker: Any, hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(LIST_URL, json=[])
    http.get(STORED_URL, json={"storedUrl": ""})
    spy = mocker.spy(requests.Session, "request")
    hook.list_campaigns()
    hook.is_file_stored(hook.file_key("a.png"))
    hook.list_campaigns()
    assert hook.get_conn() is hook.session
    assert [call.args[0] for call in spy.call_args_list] == [hook.session] * 3
    assert CloudContactHook().session is not hook.session


# -- wire format ------------------------------------------------------------------------------------


def test_request_upload_url(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    assert hook._request_upload_url("pic.png", "image/png") == SIGNED_URL
    (call,) = http.calls
    assert call.request.method == "POST"
    assert call.request.url == UPLOAD_URL
    assert json.loads(call.request.body) == {
        "fileName": "pic.png",
        "fileType": "image/png",
        "fileBasePath": f"{CLIENT_ID}/campaign",
        "publicFile": True,
    }
    assert call.request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.request.headers["Content-Type"] == "application/json"


def test_signed_url_signature_is_masked_as_soon_as_it_is_received(
    hook: CloudContactHook, http: responses.RequestsMock, mocker: Any
) -> None:
    masked = mocker.patch("airflow_provider_ccai.hooks.ccai.mask_secret")
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    hook._request_upload_url("pic.png", "image/png")
    masked_values = {call.args[0] for call in masked.call_args_list}
    assert {SIGNATURE, SECURITY_TOKEN, CREDENTIAL} <= masked_values
    # what is not secret stays readable in the task log
    assert masked_values.isdisjoint({"AWS4-HMAC-SHA256", "20250101T000000Z", "content-type;host"})


def test_request_upload_url_private(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    hook._request_upload_url("pic.gif", "image/gif", public=False)
    assert json.loads(http.calls[0].request.body)["publicFile"] is False


@pytest.mark.parametrize(
    "body",
    [{}, {"signedS3Url": ""}, {"signedS3Url": "not-a-url"}, {"signedS3Url": 5}, ["x"]],
    ids=["no field", "empty", "not a url", "number", "list"],
)
def test_request_upload_url_without_signed_url(hook: CloudContactHook, http: responses.RequestsMock, body: Any) -> None:
    http.post(UPLOAD_URL, json=body)
    with pytest.raises(CcaiApiError, match="no signedS3Url"):
        hook._request_upload_url("pic.png", "image/png")
    assert len(http.calls) == 1


def test_put_to_signed_url(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.put(SIGNED_URL, status=200)
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    hook._put_to_signed_url(SIGNED_URL, content, "image/png")
    (call,) = http.calls
    assert call.request.method == "PUT"
    assert call.request.url == SIGNED_URL
    assert call.request.body == content
    assert call.request.headers["Content-Type"] == "image/png"
    assert "Authorization" not in call.request.headers


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        (f"{CLIENT_ID}/campaign/a.png", f"fileKey={CLIENT_ID}%2Fcampaign%2Fa.png"),
        (f"{CLIENT_ID}/campaign/a b&c=d.png", f"fileKey={CLIENT_ID}%2Fcampaign%2Fa+b%26c%3Dd.png"),
    ],
)
def test_is_file_stored_encodes_the_key(
    hook: CloudContactHook, http: responses.RequestsMock, key: str, encoded: str
) -> None:
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/a.png"})
    assert hook.is_file_stored(key) is True
    (call,) = http.calls
    assert call.request.url == f"{STORED_URL}?{encoded}"
    assert call.request.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("body", [{"storedUrl": ""}, {"storedUrl": None}, {}, []])
def test_is_file_stored_false(hook: CloudContactHook, http: responses.RequestsMock, body: Any) -> None:
    http.get(STORED_URL, json=body)
    assert hook.is_file_stored(f"{CLIENT_ID}/campaign/a.png") is False


@pytest.mark.parametrize("status", [400, 422, 500, 503])
def test_create_errors_keep_recipients_names_out_of_the_excerpt(
    hook: CloudContactHook, http: responses.RequestsMock, status: int
) -> None:
    """CCAI may echo the rejected account back; its names are as private as its phone number."""
    payload = {
        "accounts": [
            {"firstName": "Ada", "lastName": "Lovelace", "phone": "+15550001111"},
            {"firstName": "Grace", "lastName": "Hopper-Smith", "phone": "+15550001112"},
        ],
        "message": "Hi ${firstName}",
        "title": "Weekly offer",
    }
    echoed = "accounts[1] rejected: Grace Hopper-Smith (+15550001112); accounts[0] Ada Lovelace ok"
    http.post(CREATE_URL, status=status, json={"message": echoed})

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(json.dumps(payload).encode())

    text = str(raised.value)
    assert "accounts[1] rejected" in text  # the useful part of the answer is kept
    for private in ("Ada", "Lovelace", "Grace", "Hopper", "5550001112"):
        assert private not in text


def test_create_errors_keep_recipients_variables_and_message_data_out_of_the_excerpt(
    hook: CloudContactHook, http: responses.RequestsMock
) -> None:
    """``data`` (``${email}``, a customer id) and ``messageData`` are the recipient's too."""
    account = {
        "firstName": "Ann",
        "lastName": "Lee",
        "phone": "+15550001111",
        "data": {"email": "ann.lee@example.com", "customer": "crm-id-88231", "visits": 3, "city": "Zürich"},
        "messageData": "order A-7731",
    }
    payload = {"accounts": [account], "message": "Hi ${firstName} in ${city}", "title": "Weekly offer"}
    http.post(CREATE_URL, status=400, json={"error": "bad account", "account": account})

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(json.dumps(payload).encode())

    text = str(raised.value)
    assert "bad account" in text
    for private in ("ann.lee", "88231", "A-7731", "Zürich", "Z\\u00fcrich", "Lee", "5550001111"):
        assert private not in text


def test_create_errors_keep_short_codes_in_data_readable(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    """A state ``CA`` or a flag ``true`` occurs inside ordinary words and JSON; hiding it would garble the reason."""
    account = {
        "firstName": "Ann",
        "lastName": "Lee",
        "phone": "+15550001111",
        "data": {"state": "CA", "lang": "en", "optin": "true"},
    }
    payload = {"accounts": [account], "message": "Hi ${firstName}", "title": "Weekly offer"}
    answer = {"message": "Invalid sender: CCAI requires a valid phone", "valid": True, "country": "CA", "retry": "true"}
    http.post(CREATE_URL, status=400, json=answer)

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(json.dumps(payload).encode())

    assert "Invalid sender: CCAI requires a valid phone" in str(raised.value)
    assert '"valid": true, "country": "CA", "retry": "true"' in str(raised.value)


def test_create_errors_hide_variables_without_letters_as_whole_json_strings(
    hook: CloudContactHook, http: responses.RequestsMock
) -> None:
    """A ZIP code, a birth date or a spreadsheet-written phone in ``data`` is the recipient's too."""
    data = {"zip": "94107", "dob": "07/04/1990", "altPhone": "415\u2013555\u20130102", "room": "1204"}
    account = {"firstName": "Ann", "lastName": "Lee", "phone": "+15550001111", "data": data}
    payload = {"accounts": [account], "message": "Hi ${firstName}", "title": "CA offer"}
    http.post(CREATE_URL, status=400, json={"error": "Bad Request", "rejectedValue": data, "code": 94107})

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(json.dumps(payload).encode())

    text = str(raised.value)
    assert '"error": "Bad Request"' in text and '"code": 94107' in text  # only whole JSON strings are hidden
    for private in ('"94107"', "1990", "0102", '"1204"'):
        assert private not in text, text


def test_create_error_hides_an_echoed_phone_when_a_name_is_digits(
    hook: CloudContactHook, http: responses.RequestsMock
) -> None:
    """A last name ``512`` (an id some CRMs export there) must not cut the phone into pieces the pattern misses."""
    payload = {
        "accounts": [{"firstName": "Ada", "lastName": "512", "phone": "+15551234567"}],
        "message": "Hi",
        "title": "Weekly offer",
    }
    http.post(CREATE_URL, status=400, json={"message": "account rejected: phone +15551234567 is a landline"})

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(json.dumps(payload).encode())

    text = str(raised.value)
    assert "account rejected: phone <phone> is a landline" in text
    assert "4567" not in text and "Ada" not in text


def test_create_error_from_a_large_echo_hides_every_name_in_its_excerpt(
    hook: CloudContactHook, http: responses.RequestsMock
) -> None:
    """Names are hidden in as much of the body as the excerpt needs; the excerpt is as if all were."""
    accounts = [
        {"firstName": f"First{chr(65 + i % 26)}{i}x", "lastName": f"Last{i}y", "phone": f"+1555{i:07d}"}
        for i in range(5000)
    ]
    payload = {"accounts": accounts, "message": "Hi", "title": "Weekly offer"}
    body = json.dumps(payload)
    http.post(CREATE_URL, status=400, body='{"error": "bad accounts", "echo": ' + body + "}")

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(body.encode())

    text = str(raised.value)
    assert '"error": "bad accounts"' in text and text.endswith("...")
    assert "First" not in text and "Last" not in text and "555" not in text


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda body: body, id="ASCII escapes"),
        pytest.param(
            lambda body: re.sub(r"\\u00[0-9a-f]{2}", lambda m: m.group().upper().replace("U", "u"), body),
            id="upper hex",
        ),
        pytest.param(lambda body: json.dumps(json.loads(body), ensure_ascii=False), id="unescaped"),
    ],
)
def test_create_errors_keep_names_out_in_every_json_spelling(
    hook: CloudContactHook, http: responses.RequestsMock, echo: Any
) -> None:
    """A server that echoes the request as JSON may escape accents (``Jos\\u00e9``) and quotes (``D\\"Arcy``)."""
    payload = {
        "accounts": [{"firstName": "José", "lastName": 'Núñez D"Arcy', "phone": "+15550001111"}],
        "message": "Hi ${firstName}",
        "title": "Weekly offer",
    }
    body = json.dumps(payload)
    http.post(CREATE_URL, status=500, body='{"error": "failed", "request": ' + echo(body) + "}")

    with pytest.raises(CcaiApiError) as raised:
        hook.create_campaign(body.encode())

    text = str(raised.value)
    assert '"error": "failed"' in text  # the excerpt is there, so the checks below bite
    for private in ("Jos", "N\\u00fa", "N\\u00FA", "Núñez", "Arcy"):
        assert private not in text


@pytest.mark.parametrize("payload", [PAYLOAD, json.dumps(PAYLOAD).encode()], ids=["dict", "bytes"])
def test_create_campaign(hook: CloudContactHook, http: responses.RequestsMock, payload: Any) -> None:
    http.post(CREATE_URL, json={"id": 99, "status": "PENDING", "title": "Weekly offer"})
    assert hook.create_campaign(payload) == {"id": 99, "status": "PENDING", "title": "Weekly offer"}
    (call,) = http.calls
    assert call.request.method == "POST"
    assert call.request.url == CREATE_URL
    assert call.request.headers["ForceNewCampaign"] == "true"
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(call.request.body) == PAYLOAD


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([{"id": 2, "title": "b"}, {"id": 1, "title": "a"}], [{"id": 2, "title": "b"}, {"id": 1, "title": "a"}]),
        ({"content": [{"id": 3}], "totalPages": 1}, [{"id": 3}]),
        ({"content": [{"id": 3}], "last": True, "totalElements": 1}, [{"id": 3}]),
        ({"content": [{"id": 3}], "page": {"totalPages": 1, "totalElements": 1}}, [{"id": 3}]),
        ({"content": [], "page": {"totalPages": 0, "totalElements": 0}}, []),
        ([{"id": 4}, "junk", 5], [{"id": 4}]),
    ],
    ids=["list", "paged, one page", "paged, last", "Spring 3.3 PagedModel", "paged, empty", "junk items"],
)
def test_list_campaigns(hook: CloudContactHook, http: responses.RequestsMock, body: Any, expected: Any) -> None:
    http.get(LIST_URL, json=body)
    assert hook.list_campaigns() == expected
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"unexpected": True}, "expected a list of campaigns, got dict"),
        ("campaigns", "expected a list of campaigns, got str"),
        ({"content": [{"id": 3}], "totalPages": 2}, "not as one page that holds it all"),
        ({"content": [{"id": 3}], "last": False}, "not as one page that holds it all"),
        ({"content": [{"id": 3}], "page": {"size": 1, "totalPages": 901}}, "not as one page that holds it all"),
        ({"content": [{"id": 3}], "totalElements": 2}, "not as one page that holds it all"),
        ({"content": [{"id": 3}], "last": True, "page": {"totalElements": 2}}, "not as one page that holds it all"),
        ({"content": [{"id": 3}]}, "not as one page that holds it all"),
    ],
    ids=[
        "object",
        "text",
        "two pages",
        "not the last page",
        "Spring 3.3 PagedModel, more pages",
        "fewer items than its total",
        "last, but fewer items than its total",
        "paged without page details",
    ],
)
def test_list_campaigns_fails_on_a_shape_it_cannot_read_whole(
    hook: CloudContactHook, http: responses.RequestsMock, body: Any, expected: str
) -> None:
    """Read as "no campaigns", such a list could make a lookup miss a campaign and send it again."""
    http.get(LIST_URL, json=body)
    with pytest.raises(CcaiRejectedError, match=expected):
        hook.list_campaigns()
    assert len(http.calls) == 1


def test_find_campaigns_filters_and_orders_newest_first(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    def campaign(campaign_id: int, created: str, title: str = "T", message: str = "M") -> dict[str, Any]:
        return {"id": campaign_id, "title": title, "message": message, "createdDate": created}

    http.get(
        LIST_URL,
        json=[
            campaign(1, "2026-11-25T10:00:01Z"),
            campaign(2, "2026-11-25T10:00:03.5Z"),
            campaign(3, "2026-11-25T10:00:02+00:00"),
            campaign(4, "2026-11-25T09:59:59Z"),  # too old
            campaign(5, "2026-11-25T10:00:04Z", title="Other"),
            campaign(6, "2026-11-25T10:00:04Z", message="Other"),
            campaign(7, "2026-11-25T10:00:02.5"),  # no offset: read as UTC
            campaign(8, "2026-11-24T21:59:59"),  # no offset, too old even as a time 12 h behind UTC
            campaign(12, "2026-11-25T01:00:00"),  # no offset: may be 10:00 or later in a zone behind UTC
            campaign(9, None),  # type: ignore[arg-type]  # unknown time: might be recent, so it counts
            campaign(10, "yesterday"),
            campaign(11, "2026-11-25"),  # no time of day: as midnight it would look too old, so it is unknown
            {"id": 13, "title": "T", "message": None, "createdDate": "2026-11-25T10:00:05Z"},  # null: not a mismatch
            {"id": 14, "title": "T", "createdDate": "2026-11-25T10:00:06Z"},  # no message listed
            {"id": 15, "title": "T", "message": None, "createdDate": "2026-11-25T09:00:00Z"},  # too old
        ],
    )
    since = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)
    found = hook.find_campaigns(title="T", message="M", created_after=since)
    assert [item["id"] for item in found] == [14, 13, 2, 7, 3, 1, 12, 9, 10, 11]


@pytest.mark.parametrize("listed_id", [None, "12", True, 12.0], ids=["missing", "text", "bool", "float"])
def test_find_campaigns_refuses_a_match_without_an_integer_id(
    hook: CloudContactHook, http: responses.RequestsMock, listed_id: Any
) -> None:
    """It may be the campaign a lost answer created: unable to name it, the lookup fails rather than send again."""
    match = {"title": "T", "message": "M", "createdDate": "2026-11-25T10:00:01Z"}
    other = {"title": "Other", "message": "M", "createdDate": "2026-11-25T10:00:01Z"}  # not a match: id not read
    http.get(LIST_URL, json=[other, match if listed_id is None else {**match, "id": listed_id}])
    since = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)

    with pytest.raises(CcaiRejectedError, match="titled 'T' is listed without an integer id"):
        hook.find_campaigns(title="T", message="M", created_after=since)


def test_get_campaign_stats(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(f"{UNIT_API_URL}/v2/messages/campaign/99/stats", json={**STATS, "extra": "ignored"})
    assert hook.get_campaign_stats(99) == STATS
    assert http.calls[0].request.method == "GET"


@pytest.mark.parametrize(
    "body",
    [{"sentCount": "3"}, {**STATS, "pendingCount": True}, {**STATS, "errorCount": 1.0}, [STATS]],
    ids=["text", "bool", "float", "list"],
)
def test_get_campaign_stats_bad_shape(hook: CloudContactHook, http: responses.RequestsMock, body: Any) -> None:
    http.get(f"{UNIT_API_URL}/v2/messages/campaign/99/stats", json=body)
    with pytest.raises(CcaiApiError, match="unexpected stats shape"):
        hook.get_campaign_stats(99)


def test_cancel_campaign(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.delete(f"{UNIT_API_URL}/campaigns/99", status=204)
    assert hook.cancel_campaign(99) is None
    (call,) = http.calls
    assert (call.request.method, call.request.url) == ("DELETE", f"{UNIT_API_URL}/campaigns/99")
    assert call.request.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("first", "done"),
    [
        ({"body": requests.ConnectionError("Connection aborted: RemoteDisconnected")}, True),
        ({"status": 503}, True),
        ({"body": requests.ConnectTimeout("connect timed out")}, False),
        ({"status": 429}, False),
        (None, False),
    ],
    ids=[
        "lost answer, then 404: done",
        "503, then 404: done",
        "connect timeout (never sent), then 404: no such campaign",
        "429 (not acted on), then 404: no such campaign",
        "404 at once: no such campaign",
    ],
)
def test_cancel_campaign_404(
    hook: CloudContactHook, http: responses.RequestsMock, sleeps: mock.MagicMock, first: Any, done: bool
) -> None:
    url = f"{UNIT_API_URL}/campaigns/99"
    if first is not None:
        http.delete(url, **first)
    http.delete(url, status=404, json={"error": "Campaign not found"})

    if done:
        assert hook.cancel_campaign(99) is None
    else:
        with pytest.raises(CcaiRejectedError, match=r"^CCAI DELETE /campaigns/99 failed: HTTP 404"):
            hook.cancel_campaign(99)
    assert len(http.calls) == (1 if first is None else 2)


def test_a_failed_stats_call_names_its_campaign(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(f"{UNIT_API_URL}/v2/messages/campaign/77/stats", status=404, json={"error": "Not Found"})
    with pytest.raises(CcaiRejectedError, match=r"^CCAI GET /v2/messages/campaign/77/stats failed: HTTP 404"):
        hook.get_campaign_stats(77)


def test_test_connection_ok(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(STORED_URL, json={"storedUrl": ""})
    assert hook.test_connection() == (True, f"Connected to CCAI as client {CLIENT_ID}.")
    assert len(http.calls) == 1


def test_test_connection_rejected_does_not_raise(
    hook: CloudContactHook, http: responses.RequestsMock, logs: CapturedLogs
) -> None:
    http.get(STORED_URL, status=401, json={"error": "Unauthorized", "token": API_KEY})
    ok, reason = hook.test_connection()
    assert ok is False
    assert "HTTP 401" in reason
    assert len(http.calls) == 1
    assert_no_secrets(reason, logs.text)


def test_test_connection_makes_one_attempt_and_leaves_retries_to_other_calls(
    hook: CloudContactHook, http: responses.RequestsMock, sleeps: mock.MagicMock
) -> None:
    for _ in range(2):
        http.get(STORED_URL, status=503, headers={"Retry-After": "60"})
    http.get(STORED_URL, json={"storedUrl": ""})
    ok, reason = hook.test_connection()
    assert ok is False and "HTTP 503" in reason
    assert len(http.calls) == 1 and sleeps.call_count == 0  # an answer now, not after backoff

    assert hook.is_file_stored(f"{CLIENT_ID}/campaign/x.png") is False  # the second 503 is retried
    assert len(http.calls) == 3 and sleeps.call_args_list == [mock.call(60.0)]


@pytest.mark.parametrize("extra", [[1, 2], "files_url"], ids=["JSON list", "JSON string"])
def test_extra_that_is_not_a_json_object_fails_naming_it(mocker: Any, http: responses.RequestsMock, extra: Any) -> None:
    """Airflow 3's SDK hands such an extra on as parsed (Airflow 2.11 and the UI refuse it earlier)."""
    from types import SimpleNamespace

    connection = SimpleNamespace(login="1234", password=API_KEY, host=UNIT_API_URL, extra_dejson=extra)
    mocker.patch.object(CloudContactHook, "get_connection", return_value=connection)

    with pytest.raises(CcaiConnectionError, match=r"^Connection 'ccai_default': 'extra' must be a JSON object"):
        CloudContactHook().list_campaigns()
    assert CloudContactHook().test_connection()[0] is False
    assert len(http.calls) == 0


def test_test_connection_answers_an_unforeseen_failure_without_raising(
    ccai_conn: dict[str, str], mocker: Any, http: responses.RequestsMock
) -> None:
    mocker.patch.object(
        CloudContactHook, "is_file_stored", side_effect=RuntimeError(f"boom Bearer {ccai_conn['api_key']}")
    )
    ok, reason = CloudContactHook().test_connection()
    assert ok is False
    assert reason.startswith("RuntimeError: boom")
    assert ccai_conn["api_key"] not in reason


def test_test_connection_bad_connection_does_not_raise(
    monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock
) -> None:
    set_connection(monkeypatch, connection_json("not a url", UNIT_FILES_URL, API_KEY))
    ok, reason = CloudContactHook().test_connection()
    assert ok is False
    assert "host" in reason
    assert len(http.calls) == 0


# -- retries ----------------------------------------------------------------------------------------


TRANSIENT_STATUSES = [408, 429, 500, 502, 503, 504, 507, 520, 522, 524, 529]


@pytest.mark.parametrize("status", TRANSIENT_STATUSES)
def test_safe_calls_retry_transient_statuses(
    hook: CloudContactHook, http: responses.RequestsMock, status: int, logs: CapturedLogs
) -> None:
    http.get(LIST_URL, status=status, body="busy")
    with pytest.raises(CcaiTransientError) as raised:
        hook.list_campaigns()
    assert len(http.calls) == hook.settings.max_attempts == 3
    assert raised.value.status == status
    assert not isinstance(raised.value, AirflowFailException)
    assert "retrying" in logs.text


@pytest.mark.parametrize("status", TRANSIENT_STATUSES)
def test_safe_calls_recover_after_transient_statuses(
    hook: CloudContactHook, http: responses.RequestsMock, status: int
) -> None:
    http.get(LIST_URL, status=status)
    http.get(LIST_URL, status=status)
    http.get(LIST_URL, json=[{"id": 1}])
    assert hook.list_campaigns() == [{"id": 1}]
    assert len(http.calls) == 3


TRANSPORT_FAILURES = {
    "refused": refused,
    "dropped": dropped,
    "connect timeout": lambda: requests.ConnectTimeout("connect timed out"),
    "read timeout": lambda: requests.ReadTimeout("read timed out"),
}


@pytest.mark.parametrize("failure", TRANSPORT_FAILURES.values(), ids=TRANSPORT_FAILURES.keys())
def test_safe_calls_retry_transport_failures(
    hook: CloudContactHook, http: responses.RequestsMock, failure: Any
) -> None:
    http.get(STORED_URL, body=failure())
    with pytest.raises(CcaiTransientError) as raised:
        hook.is_file_stored(hook.file_key("a.png"))
    assert len(http.calls) == 3
    assert raised.value.status is None
    assert not isinstance(raised.value, AirflowFailException)


def test_safe_call_retries_malformed_json(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(LIST_URL, body="<html>oops</html>", content_type="text/html")
    http.get(LIST_URL, json=[])
    assert hook.list_campaigns() == []
    assert len(http.calls) == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("3600", 60.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 01 Jan 2100 00:00:00 GMT", 60.0),
    ],
    ids=["7 s", "fraction", "capped", "HTTP date passed", "HTTP date far ahead: capped"],
)
def test_retry_after_is_honoured_and_capped(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    sleeps: mock.MagicMock,
    mocker: Any,
    header: str,
    expected: float,
) -> None:
    mocker.patch("random.uniform", side_effect=lambda low, high: high)  # without the header: a 5 s wait
    http.get(LIST_URL, status=429, headers={"Retry-After": header})
    http.get(LIST_URL, json=[])
    assert CloudContactHook(backoff_initial=5, backoff_max=5).list_campaigns() == []
    assert len(http.calls) == 2
    assert sleeps.call_args_list == [mock.call(expected)]


def test_retry_after_as_an_http_date_waits_until_then(
    hook: CloudContactHook, http: responses.RequestsMock, sleeps: mock.MagicMock, mocker: Any
) -> None:
    now = datetime(2026, 11, 27, 12, 0, 0, 250000, tzinfo=timezone.utc)
    mocker.patch("airflow_provider_ccai.hooks.ccai.datetime", frozen_clock(now))
    then = format_datetime(now.replace(microsecond=0) + timedelta(seconds=40), usegmt=True)  # whole seconds
    http.get(LIST_URL, status=503, headers={"Retry-After": then})
    http.get(LIST_URL, json=[])
    assert hook.list_campaigns() == []
    assert sleeps.call_args_list == [mock.call(39.75)]


def test_retry_after_as_an_http_date_with_a_minus_zero_zone_is_read_as_gmt() -> None:
    """RFC 5322's ``-0000`` ("no zone information") parses as a naive datetime; subtracting it would raise."""
    from airflow_provider_ccai.hooks.ccai import _retry_after

    assert _retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"}) == 0.0  # long past: no wait


def test_backoff_is_exponential_and_capped(
    ccai_conn: dict[str, str], http: responses.RequestsMock, sleeps: mock.MagicMock, mocker: Any
) -> None:
    mocker.patch("random.uniform", side_effect=lambda low, high: high)  # the top of each jitter range
    http.get(LIST_URL, status=503)
    with pytest.raises(CcaiTransientError):
        CloudContactHook(max_attempts=5, backoff_initial=1, backoff_max=4).list_campaigns()
    assert len(http.calls) == 5
    assert [call.args[0] for call in sleeps.call_args_list] == [1, 2, 4, 4]


@pytest.mark.parametrize("status", [301, 307, 400, 401, 403, 404, 422])
@pytest.mark.parametrize("call", ["list", "stats", "stored", "upload url", "create", "cancel"])
def test_rejections_are_not_retried(
    hook: CloudContactHook, http: responses.RequestsMock, status: int, call: str
) -> None:
    http.get(LIST_URL, status=status, json={"error": "no"})
    http.get(f"{UNIT_API_URL}/v2/messages/campaign/5/stats", status=status)
    http.get(STORED_URL, status=status)
    http.post(UPLOAD_URL, status=status)
    http.post(CREATE_URL, status=status, json={"error": "no"})
    http.delete(f"{UNIT_API_URL}/campaigns/5", status=status)
    action = {
        "list": hook.list_campaigns,
        "stats": lambda: hook.get_campaign_stats(5),
        "stored": lambda: hook.is_file_stored("1234/campaign/a.png"),
        "upload url": lambda: hook._request_upload_url("a.png", "image/png"),
        "create": lambda: hook.create_campaign(PAYLOAD),
        "cancel": lambda: hook.cancel_campaign(5),
    }[call]
    with pytest.raises(CcaiRejectedError) as raised:
        action()
    assert len(http.calls) == 1
    assert raised.value.status == status
    assert f"HTTP {status}" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)


@pytest.mark.parametrize("status", [501, 505])
def test_safe_calls_fail_without_retry_on_other_5xx(hook: CloudContactHook, http: responses.RequestsMock, status: int):
    http.get(LIST_URL, status=status, body="no")
    with pytest.raises(CcaiRejectedError, match=f"HTTP {status}") as raised:
        hook.list_campaigns()
    assert len(http.calls) == 1
    assert isinstance(raised.value, AirflowFailException)


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.InvalidHeader("Invalid leading whitespace in header value"),
        requests.exceptions.InvalidURL("Invalid URL"),
        requests.exceptions.MissingSchema("No scheme supplied"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_requests_that_cannot_be_built_fail_without_retry(
    hook: CloudContactHook, http: responses.RequestsMock, error: Exception
) -> None:
    http.get(LIST_URL, body=error)
    with pytest.raises(CcaiRejectedError, match=f"{type(error).__name__}: the request could not be built") as raised:
        hook.list_campaigns()
    assert len(http.calls) == 1
    assert isinstance(raised.value, AirflowFailException)


def untrusted_certificate() -> requests.exceptions.SSLError:
    """What ``requests`` raises when the server's certificate does not verify: no retry can fix it."""
    import ssl

    reason = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"
    )
    return requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(None, "/api/clients/1234/campaigns", urllib3.exceptions.SSLError(reason))  # type: ignore[arg-type]
    )


def test_untrusted_certificate_fails_without_retry(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(LIST_URL, body=untrusted_certificate())
    http.post(CREATE_URL, body=untrusted_certificate())
    for call in (hook.list_campaigns, lambda: hook.create_campaign(PAYLOAD)):
        with pytest.raises(CcaiRejectedError, match="TLS certificate verification failed") as raised:
            call()
        assert isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 2


def test_a_failed_put_keeps_no_trace_of_the_signed_url(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    """requests' own error text names the URL; it is neither the cause nor the context of what is raised."""
    http.put(SIGNED_URL.split("?")[0], body=requests.ConnectionError(f"Max retries exceeded with url: {SIGNED_URL}"))
    with pytest.raises(CcaiTransientError) as raised:
        hook._put_to_signed_url(SIGNED_URL, b"\x89PNG", "image/png")
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert_no_secrets(*(str(item) for item in chain), *(repr(item.args) for item in chain))
    assert "X-Amz-Signature" not in " ".join(str(item) for item in chain)


def test_settings_repr_hides_the_api_key(hook: CloudContactHook) -> None:
    assert API_KEY not in repr(hook.settings)
    assert CLIENT_ID in repr(hook.settings)


# -- create_campaign: never sent twice ---------------------------------------------------------------

AMBIGUOUS = {
    "read timeout": {"body": requests.ReadTimeout("read timed out")},
    "connection reset after sending": {"body": dropped()},
    "500": {"status": 500, "json": {"error": "internal"}},
    "502": {"status": 502, "body": "bad gateway"},
    "503": {"status": 503, "body": "unavailable"},
    "504": {"status": 504, "body": "gateway timeout"},
    "501": {"status": 501, "body": "not implemented"},
    "response cut short": {"body": requests.exceptions.ChunkedEncodingError("connection broken")},
    "malformed JSON 200": {"status": 200, "body": "{not json", "content_type": "application/json"},
    "200 without id": {"status": 200, "json": {"status": "PENDING"}},
    "200 with text id": {"status": 200, "json": {"id": "99"}},
    # CCAI documents no rate limit: what a 429 from something in front of it did is unknown
    "429": {"status": 429, "headers": {"Retry-After": "2"}},
}


@pytest.mark.parametrize("response", AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_create_is_never_resent_when_it_may_have_arrived(
    hook: CloudContactHook, http: responses.RequestsMock, response: dict[str, Any]
) -> None:
    http.post(CREATE_URL, **response)
    http.post(CREATE_URL, json={"id": 1})
    with pytest.raises(CcaiAmbiguousResultError) as raised:
        hook.create_campaign(PAYLOAD)
    assert len(http.calls) == 1
    assert not isinstance(raised.value, AirflowFailException)


RESENDABLE = {
    "connection refused": {"body": refused()},
    "connect timeout": {"body": requests.ConnectTimeout("connect timed out")},
}


@pytest.mark.parametrize("response", RESENDABLE.values(), ids=RESENDABLE.keys())
def test_create_is_retried_when_it_never_arrived(
    hook: CloudContactHook, http: responses.RequestsMock, response: dict[str, Any]
) -> None:
    http.post(CREATE_URL, **response)
    http.post(CREATE_URL, json={"id": 42})
    assert hook.create_campaign(PAYLOAD)["id"] == 42
    assert len(http.calls) == 2
    assert [json.loads(call.request.body) for call in http.calls] == [PAYLOAD, PAYLOAD]


@pytest.mark.parametrize("response", RESENDABLE.values(), ids=RESENDABLE.keys())
def test_create_gives_up_after_max_attempts_as_transient(
    hook: CloudContactHook, http: responses.RequestsMock, response: dict[str, Any]
) -> None:
    http.post(CREATE_URL, **response)
    with pytest.raises(CcaiTransientError) as raised:
        hook.create_campaign(PAYLOAD)
    assert not isinstance(raised.value, CcaiAmbiguousResultError)
    assert not isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 3


# -- upload_file ----------------------------------------------------------------------------------


def test_upload_file(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.gif"})
    assert hook.upload_file(b"GIF89a...", "pic.gif", "image/gif") == f"{CLIENT_ID}/campaign/pic.gif"
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "GET"]
    assert http.calls[1].request.body == b"GIF89a..."
    assert http.calls[1].request.headers["Content-Type"] == "image/gif"
    assert http.calls[2].request.url == f"{STORED_URL}?fileKey={CLIENT_ID}%2Fcampaign%2Fpic.gif"


def test_a_netrc_entry_neither_replaces_the_key_nor_reaches_the_signed_url(
    hook: CloudContactHook, http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """requests adds ``~/.netrc`` Basic credentials to any request without explicit auth; the hook gives its own."""
    netrc = tmp_path / "netrc"
    hosts = ("core.ccai.test", "files.ccai.test", "ccai-bucket.s3.test")
    netrc.write_text("".join(f"machine {host} login netrc-user password netrc-pass\n" for host in hosts))
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert requests.utils.get_netrc_auth(SIGNED_URL) == ("netrc-user", "netrc-pass")  # the file is read
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.gif"})

    hook.upload_file(b"GIF89a...", "pic.gif", "image/gif")

    upload_url, put, stored = (call.request.headers for call in http.calls)
    assert upload_url["Authorization"] == stored["Authorization"] == f"Bearer {API_KEY}"
    assert "Authorization" not in put


def test_upload_file_fails_when_ccai_does_not_store_the_key(
    hook: CloudContactHook, http: responses.RequestsMock, mocker: Any
) -> None:
    """A key CCAI does not know would send an MMS without its picture: the upload fails (retryable) instead."""
    sleep = mocker.patch("airflow_provider_ccai.utils.polling.time.sleep")
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": ""})
    with pytest.raises(CcaiApiError, match=r"1234/campaign/pic\.gif is not stored after the upload") as raised:
        hook.upload_file(b"GIF89a...", "pic.gif", "image/gif")
    assert not isinstance(raised.value, AirflowFailException)
    assert SIGNATURE not in str(raised.value)
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "GET", "GET", "GET"]
    assert sleep.call_args_list == [mock.call(CloudContactHook.STORED_CHECK_INTERVAL)] * 2


def test_upload_file_waits_briefly_for_ccai_to_report_the_key(
    hook: CloudContactHook, http: responses.RequestsMock, mocker: Any
) -> None:
    mocker.patch("airflow_provider_ccai.utils.polling.time.sleep")
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": ""})
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.gif"})
    assert hook.upload_file(b"GIF89a...", "pic.gif", "image/gif") == f"{CLIENT_ID}/campaign/pic.gif"
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "GET", "GET"]


def test_upload_file_gets_one_fresh_url_after_expiry(
    hook: CloudContactHook, http: responses.RequestsMock, logs: CapturedLogs
) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL_2})
    http.put(SIGNED_URL, status=403, body=EXPIRED_BODY, content_type="application/xml")
    http.put(SIGNED_URL_2, status=200)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.png"})
    assert hook.upload_file(b"\x89PNG\r\n\x1a\nxx", "pic.png", "image/png") == f"{CLIENT_ID}/campaign/pic.png"
    assert [(call.request.method, call.request.url.partition("?")[0]) for call in http.calls] == [
        ("POST", UPLOAD_URL),
        ("PUT", SIGNED_URL.partition("?")[0]),
        ("POST", UPLOAD_URL),
        ("PUT", SIGNED_URL_2.partition("?")[0]),
        ("GET", STORED_URL),
    ]
    assert http.calls[3].request.url == SIGNED_URL_2
    assert http.calls[3].request.body == b"\x89PNG\r\n\x1a\nxx"
    assert "expired" in logs.text
    assert_no_secrets(logs.text)


def test_upload_file_gets_one_fresh_url_when_its_signing_credentials_expired(
    hook: CloudContactHook, http: responses.RequestsMock
) -> None:
    """A URL signed with temporary credentials gets S3's 400 ExpiredToken once they lapse."""
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL_2})
    http.put(
        SIGNED_URL,
        status=400,
        body="<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>",
    )
    http.put(SIGNED_URL_2, status=200)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.png"})
    assert hook.upload_file(b"\x89PNG\r\n\x1a\nxx", "pic.png", "image/png") == f"{CLIENT_ID}/campaign/pic.png"
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "POST", "PUT", "GET"]


def test_upload_file_second_expiry_fails(
    hook: CloudContactHook, http: responses.RequestsMock, logs: CapturedLogs
) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL_2})
    http.put(SIGNED_URL, status=403, body=EXPIRED_BODY)
    http.put(SIGNED_URL_2, status=403, body=EXPIRED_BODY)
    with pytest.raises(CcaiRejectedError, match="Request has expired") as raised:
        hook.upload_file(b"\x89PNG\r\n\x1a\nxx", "pic.png", "image/png")
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "POST", "PUT"]
    assert_no_secrets(str(raised.value), logs.text)


def test_upload_file_other_403_is_not_retried(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL, status=403, body="<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
    with pytest.raises(CcaiRejectedError, match="HTTP 403"):
        hook.upload_file(b"\x89PNG\r\n\x1a\nxx", "pic.png", "image/png")
    assert [call.request.method for call in http.calls] == ["POST", "PUT"]


STORAGE_TIMEOUTS = {
    "S3 400 RequestTimeout": (
        400,
        "<Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or "
        "written to within the timeout period.</Message></Error>",
    ),
    "408": (408, ""),
}


@pytest.mark.parametrize(("status", "body"), STORAGE_TIMEOUTS.values(), ids=STORAGE_TIMEOUTS.keys())
def test_upload_file_put_retried_when_storage_timed_out_reading_it(
    hook: CloudContactHook, http: responses.RequestsMock, status: int, body: str
) -> None:
    """Storage that gave up waiting for the body stored nothing; the same PUT is repeated, as AWS SDKs do."""
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL, status=status, body=body)
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/pic.png"})
    assert hook.upload_file(b"\x89PNG\r\n\x1a\nxx", "pic.png", "image/png") == f"{CLIENT_ID}/campaign/pic.png"
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "PUT", "GET"]


def test_s3_request_timeout_from_ccai_stays_a_rejection(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    """The 400 rule is the signed-URL PUT's: CCAI's own API answering 400 is refused as any other 400."""
    status, body = STORAGE_TIMEOUTS["S3 400 RequestTimeout"]
    http.get(STORED_URL, status=status, body=body)
    with pytest.raises(CcaiRejectedError, match=f"HTTP {status}"):
        hook.is_file_stored(f"{CLIENT_ID}/campaign/pic.png")
    assert len(http.calls) == 1


# -- secrets, truncation and redaction in errors and logs -------------------------------------------

SIGNATURE_MISMATCH = (
    f"<Error><Code>SignatureDoesNotMatch</Code><AWSAccessKeyId>AKIAEXAMPLEACCESSKEY</AWSAccessKeyId>"
    f"<SignatureProvided>{SIGNATURE}</SignatureProvided>"
    f"<CanonicalRequest>PUT /1234/campaign/pic.png X-Amz-Credential=AKIAEXAMPLEACCESSKEY%2F20250101"
    f"&amp;X-Amz-Security-Token={SECURITY_TOKEN}</CanonicalRequest></Error>"
)


def _put(hook: CloudContactHook) -> Any:
    return hook._put_to_signed_url(SIGNED_URL, b"\x89PNG\r\n\x1a\n", "image/png")


FAILING_PATHS: dict[str, tuple[str, str, dict[str, Any], Any, type[Exception]]] = {
    "401 echoing the key": (
        "GET",
        LIST_URL,
        {"status": 401, "json": {"error": f"bad key {API_KEY}", "authorization": f"Bearer {API_KEY}"}},
        lambda hook: hook.list_campaigns(),
        CcaiRejectedError,
    ),
    "create 400 echoing the key": (
        "POST",
        CREATE_URL,
        {"status": 400, "body": f"Authorization: Bearer {API_KEY} is not allowed to send"},
        lambda hook: hook.create_campaign(PAYLOAD),
        CcaiRejectedError,
    ),
    "create 500 echoing the key": (
        "POST",
        CREATE_URL,
        {"status": 500, "json": {"apiKey": API_KEY, "trace": f"key={API_KEY}"}},
        lambda hook: hook.create_campaign(PAYLOAD),
        CcaiAmbiguousResultError,
    ),
    "create read timeout": (
        "POST",
        CREATE_URL,
        {"body": requests.ReadTimeout(f"HTTPSConnectionPool: Read timed out. {API_KEY}")},
        lambda hook: hook.create_campaign(PAYLOAD),
        CcaiAmbiguousResultError,
    ),
    "PUT signature mismatch": ("PUT", SIGNED_URL, {"status": 403, "body": SIGNATURE_MISMATCH}, _put, CcaiRejectedError),
    "PUT expired": ("PUT", SIGNED_URL, {"status": 403, "body": EXPIRED_BODY}, _put, CcaiRejectedError),
    "PUT 500 retried": (
        "PUT",
        SIGNED_URL,
        {"status": 500, "body": f"<Error><Message>We encountered an internal error</Message>{SIGNED_QUERY}</Error>"},
        _put,
        CcaiTransientError,
    ),
    "PUT connection dropped": (
        "PUT",
        SIGNED_URL,
        {"body": requests.ConnectionError(f"Max retries exceeded with url: /pic.png?{SIGNED_QUERY}")},
        _put,
        CcaiTransientError,
    ),
    "PUT refused": ("PUT", SIGNED_URL, {"body": refused()}, _put, CcaiTransientError),
    "upload url 500 echoing the signed URL": (
        "POST",
        UPLOAD_URL,
        {"status": 500, "json": {"signedS3Url": SIGNED_URL, "error": "oops"}},
        lambda hook: hook._request_upload_url("pic.png", "image/png"),
        CcaiTransientError,
    ),
}


@pytest.mark.parametrize(
    ("method", "url", "response", "action", "error"), FAILING_PATHS.values(), ids=FAILING_PATHS.keys()
)
def test_secrets_never_reach_errors_or_logs(
    hook: CloudContactHook,
    http: responses.RequestsMock,
    logs: CapturedLogs,
    method: str,
    url: str,
    response: dict[str, Any],
    action: Any,
    error: type[Exception],
) -> None:
    http.add(method, url, **response)
    with pytest.raises(error) as raised:
        action(hook)
    assert_no_secrets(str(raised.value), repr(raised.value), raised.value.detail, logs.text)
    if method == "PUT":
        assert str(raised.value).startswith(f"CCAI PUT {S3}/{CLIENT_ID}/campaign/pic.png failed")


def test_retry_warnings_carry_no_secrets(
    hook: CloudContactHook, http: responses.RequestsMock, logs: CapturedLogs
) -> None:
    http.put(SIGNED_URL, status=503, body=f"slow down {SIGNED_URL}")
    with pytest.raises(CcaiTransientError):
        _put(hook)
    assert [message for message in logs.messages if "retrying" in message] == [
        message for message in logs.messages if "HTTP 503" in message
    ]
    assert len([message for message in logs.messages if "retrying" in message]) == 2  # attempts 1 and 2
    assert_no_secrets(logs.text)


def test_error_bodies_are_truncated(hook: CloudContactHook, http: responses.RequestsMock) -> None:
    http.get(LIST_URL, status=400, body="x" * 5000)
    with pytest.raises(CcaiRejectedError) as raised:
        hook.list_campaigns()
    assert len(raised.value.detail) <= 203
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize("phone", ["+15551234567", "+44 20 7946 0958", "555-123-4567"])
def test_phone_numbers_in_error_bodies_are_redacted(
    hook: CloudContactHook, http: responses.RequestsMock, phone: str
) -> None:
    http.post(CREATE_URL, status=422, json={"error": f"invalid recipient {phone}", "row": 3})
    with pytest.raises(CcaiRejectedError) as raised:
        hook.create_campaign(PAYLOAD)
    assert phone not in str(raised.value)
    assert "<phone>" in str(raised.value)
    assert "invalid recipient" in str(raised.value)


# -- public_fields ----------------------------------------------------------------------------------


def test_public_fields_keeps_the_top_level_scalars_but_key_like_ones() -> None:
    campaign = {
        "id": 12345,
        "title": "MMS Content Test",
        "pictureFileKey": "1234/campaign/a.png",
        "fileKey": None,
        "accounts": [{"phone": "+15550001111"}],
        "client": {"id": 6789, "apiKey": "secret", "accountId": 101112, "webhookToken": "t"},
        "secretKey": "s",
        "awsCredential": "c",
        "uploadSignature": "u",
        "adminPassword": "p",
        "authorization": "Bearer abc",
        "status": "PENDING",
        "pendingApproval": False,
        "errorRate": 0.0,
    }
    cleaned = public_fields(campaign)
    assert cleaned == {
        "id": 12345,
        "title": "MMS Content Test",
        "pictureFileKey": "1234/campaign/a.png",
        "fileKey": None,
        "status": "PENDING",
        "pendingApproval": False,
        "errorRate": 0.0,
    }
    assert campaign["client"]["apiKey"] == "secret"  # the input is not modified


def test_public_fields_drops_recipients_under_names_it_does_not_know() -> None:
    """CCAI's response is not fully documented: a recipient may come back under any name, in any shape."""
    campaign = {
        "id": 1,
        "senderPhone": "+15550009999",
        "senderEmail": "offers@example.com",
        "messages": [{"phone": "+14155550101", "firstName": "Ann"}, {"status": "SENT"}],
        "contacts": ["+1 (415) 555-0102", "group A"],
        "recipient": {"firstName": "Ann", "lastName": "Lee", "data": {"email": "ann@example.com"}},
        "failed": ["tel:+14155550111"],
        "to": "+14155550103",
        "phone": 14155550104,
        "firstName": "Bob",
        "email": "bob@example.com",
        "client": {"id": 6789, "phone": "415.555.0104", "name": "DEFAULT"},
        "sentAt": "2026-11-25",
        "createdDate": "2026-11-25T10:00:01Z",
    }
    assert public_fields(campaign) == {
        "id": 1,
        "senderPhone": "+15550009999",
        "senderEmail": "offers@example.com",
        "sentAt": "2026-11-25",
        "createdDate": "2026-11-25T10:00:01Z",
    }


def test_public_fields_shows_urls_without_their_query_string() -> None:
    signed = (
        "https://bucket.s3.amazonaws.com/1234/campaign/a.png?X-Amz-Credential=AKIA&X-Amz-Signature=0123456789abcdef"
    )
    assert public_fields({"id": 1, "pictureUrl": signed, "website": "https://example.com/offer"}) == {
        "id": 1,
        "pictureUrl": "https://bucket.s3.amazonaws.com/1234/campaign/a.png",
        "website": "https://example.com/offer",
    }


def unresolved() -> requests.ConnectionError:
    """What ``requests`` raises when the host name does not resolve: the request never left."""
    import socket

    reason = socket.gaierror(-2, "Name or service not known")
    return requests.ConnectionError(urllib3.exceptions.NameResolutionError("core.ccai.test", None, reason))


def test_refused_and_dropped_are_told_apart() -> None:
    from airflow_provider_ccai.hooks.ccai import _connection_refused

    assert _connection_refused(refused()) is True
    assert _connection_refused(unresolved()) is True
    assert _connection_refused(dropped()) is False


def test_api_key_is_registered_with_the_secrets_masker_when_read(ccai_conn, mocker):
    masked = mocker.patch("airflow_provider_ccai.hooks.ccai.mask_secret")
    hook = CloudContactHook()
    assert masked.call_count == 0  # nothing is read in __init__

    assert hook.settings.api_key == ccai_conn["api_key"]
    masked.assert_called_once_with(ccai_conn["api_key"])


def test_operator_hook_params_override_connection_extras(ccai_conn, mocker):
    from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator

    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.client_id = "1234"
    hook_class.return_value.create_campaign.return_value = {"id": 5, "status": "PENDING"}
    operator = CcaiCreateCampaignOperator(
        task_id="send",
        accounts=[{"firstName": "A", "lastName": "B", "phone": "+15555550101"}],
        message="m",
        title="t",
        hook_params={"timeout": 60, "max_attempts": 2},
    )
    operator.execute({"ti": mocker.MagicMock(try_number=1)})

    hook_class.assert_called_once_with("ccai_default", timeout=60, max_attempts=2)


@responses.activate
def test_auth_hints_name_the_connection_field_but_not_for_the_signed_url_put(ccai_conn):
    from airflow_provider_ccai.exceptions import CcaiRejectedError

    hook = CloudContactHook()
    responses.add(responses.GET, f"{ccai_conn['api_url']}/clients/1234/campaigns", status=401, body="{}")
    responses.add(responses.PUT, "https://bucket.test/1234/campaign/a.png", status=403, body="<Error/>")

    with pytest.raises(CcaiRejectedError, match=r"rejected the API key \(check the connection's API Key\)"):
        hook.list_campaigns()
    with pytest.raises(CcaiRejectedError) as put_error:
        hook._put_to_signed_url("https://bucket.test/1234/campaign/a.png?X-Amz-Signature=abc", b"x", "image/png")
    assert "Client ID" not in str(put_error.value) and "API Key" not in str(put_error.value)


@pytest.mark.parametrize("helper_available", [True, False], ids=["common-compat>=1.23", "older common-compat"])
def test_async_settings_read_the_extra_without_registering_the_key(ccai_conn, monkeypatch, mocker, helper_available):
    import asyncio

    import airflow.providers.common.compat.connection as compat_connection

    if not helper_available:
        monkeypatch.delattr(compat_connection, "get_async_extra_dejson", raising=False)
    elif not hasattr(compat_connection, "get_async_extra_dejson"):  # Python 3.10 resolves common-compat 1.20

        async def get_async_extra_dejson(conn: Any) -> dict[str, Any]:
            return conn.extra_dejson

        monkeypatch.setattr(compat_connection, "get_async_extra_dejson", get_async_extra_dejson, raising=False)
    async_lookup = mocker.spy(compat_connection, "get_async_connection")
    masked = mocker.patch("airflow_provider_ccai.hooks.ccai.mask_secret")
    monkeypatch.setenv(
        "AIRFLOW_CONN_CCAI_DEFAULT",
        json.dumps({"conn_type": "ccai", "login": "1234", "password": "k" * 12, "extra": {"timeout": 7}}),
    )

    settings = asyncio.run(CloudContactHook().aget_settings())

    assert (settings.client_id, settings.read_timeout, settings.api_url) == ("1234", 7.0, DEFAULT_API_URL)
    assert masked.call_count == 0
    # an older common-compat's get_async_connection may mask synchronously on the loop: not used then
    assert async_lookup.call_count == (1 if helper_available else 0)


# -- the async stats call (triggers), against the sandbox on loopback ------------------------------


def _async_stats(campaign_id: int, **hook_params: Any) -> dict[str, int]:
    import asyncio

    hook = CloudContactHook(backoff_initial=0, backoff_max=0, **hook_params)
    return asyncio.run(hook.aget_campaign_stats(campaign_id))


def test_async_stats_retry_a_body_that_cannot_be_decoded(sandbox: Any, mocker: Any) -> None:
    """As the sync call does (requests' ContentDecodingError): a garbled gzip body is a failure that may pass."""
    import httpx

    get = mocker.patch.object(httpx.AsyncClient, "get", side_effect=httpx.DecodingError("bad gzip"))
    with pytest.raises(CcaiTransientError, match="DecodingError"):
        _async_stats(1001, max_attempts=2)
    assert get.call_count == 2


def test_async_stats_retry_503_logging_each_retry_and_read_the_connection_once(
    sandbox: Any, mocker: Any, logs: CapturedLogs
) -> None:
    import asyncio

    accounts = [{"firstName": "Ada", "lastName": "L", "phone": "+15555550101"}]
    campaign_id = CloudContactHook().create_campaign({"accounts": accounts, "message": "Hi", "title": "T"})["id"]
    sandbox.add_fault("stats", "status", times=2, status=503)
    lookups = mocker.spy(CloudContactHook, "aget_settings")
    hook = CloudContactHook(max_attempts=3, backoff_initial=0, backoff_max=0)

    async def poll_twice() -> list[dict[str, int]]:
        return [await hook.aget_campaign_stats(campaign_id), await hook.aget_campaign_stats(campaign_id)]

    first, second = asyncio.run(poll_twice())

    assert first["totalCount"] == second["totalCount"] == 1
    assert [entry["endpoint"] for entry in sandbox.requests_seen()].count("stats") == 4
    assert lookups.call_count == 1
    retries = [message for message in logs.messages if "retrying in" in message]
    assert len(retries) == 2 and all("HTTP 503" in message and "of 3" in message for message in retries)


@pytest.fixture
def fresh_ssl_context() -> Iterator[None]:
    """
    Build the async calls' SSL context anew in the test, and leave none cached after it: one built under the
    test's patched loader or CA bundle must not serve a later test, even when an assertion fails.
    """
    from airflow_provider_ccai.hooks import ccai

    ccai._verifying_ssl_context.cache_clear()
    yield
    ccai._verifying_ssl_context.cache_clear()


@pytest.mark.usefixtures("fresh_ssl_context")
def test_async_stats_read_the_ca_bundle_once_and_off_the_event_loop(sandbox: Any, mocker: Any) -> None:
    """The triggerer's one event loop serves every deferred task; reading certificates from disk would stall it."""
    import asyncio
    import ssl
    import threading

    accounts = [{"firstName": "Ada", "lastName": "L", "phone": "+15555550101"}]
    campaign_id = CloudContactHook().create_campaign({"accounts": accounts, "message": "Hi", "title": "T"})["id"]
    sandbox.add_fault("stats", "status", times=1, status=503)
    on_the_loop: list[bool] = []
    load = ssl.SSLContext.load_verify_locations

    def recording_load(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        on_the_loop.append(threading.current_thread() is threading.main_thread())
        load(self, *args, **kwargs)

    mocker.patch.object(ssl.SSLContext, "load_verify_locations", recording_load)
    hook = CloudContactHook(max_attempts=3, backoff_initial=0, backoff_max=0)

    async def poll_twice() -> list[dict[str, int]]:
        return [await hook.aget_campaign_stats(campaign_id), await hook.aget_campaign_stats(campaign_id)]

    assert [stats["totalCount"] for stats in asyncio.run(poll_twice())] == [1, 1]
    assert [entry["endpoint"] for entry in sandbox.requests_seen()].count("stats") == 3  # a retry, then a poll
    assert on_the_loop == [False]  # one load for three requests, in a worker thread


@pytest.fixture
def untrusted_tls_server(tmp_path: Any) -> Iterator[str]:
    """
    An HTTPS server on loopback whose self-signed certificate no client trusts unless told to; yields its base URL.

    The certificate, a valid one for ``127.0.0.1`` apart from its issuer, is left in ``tmp_path / "cert.pem"``.
    """
    import http.server
    import ipaddress
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_untrusted_certificate_fails_at_once_on_the_sync_and_async_paths(
    untrusted_tls_server: str, monkeypatch: pytest.MonkeyPatch, logs: CapturedLogs
) -> None:
    """No retry makes a certificate trusted: the sensor's trigger fails as the operators do, on the first try."""
    set_connection(
        monkeypatch, connection_json(f"{untrusted_tls_server}/api", untrusted_tls_server, API_KEY, max_attempts=3)
    )
    hook = CloudContactHook(backoff_initial=0, backoff_max=0)
    with pytest.raises(CcaiRejectedError, match="TLS certificate verification failed") as sync_failure:
        hook.list_campaigns()
    with pytest.raises(CcaiRejectedError, match="TLS certificate verification failed") as async_failure:
        _async_stats(1)
    assert isinstance(async_failure.value, AirflowFailException)
    assert async_failure.value.__context__ is None and async_failure.value.__cause__ is None
    assert_no_secrets(str(sync_failure.value), str(async_failure.value), *logs.messages)
    assert not [message for message in logs.messages if "retrying in" in message]


@pytest.mark.parametrize("host", ["http://127.0.0.1:80a/api", "http://127.0.0.1 /api", "https://[::1/api"])
def test_a_url_that_cannot_be_requested_fails_at_once_on_the_sync_and_async_paths(
    monkeypatch: pytest.MonkeyPatch, http: responses.RequestsMock, logs: CapturedLogs, host: str
) -> None:
    """httpx reports such a URL as a connection error (retryable); the hook refuses it before either client sees it."""
    set_connection(monkeypatch, connection_json(host, UNIT_FILES_URL, API_KEY, max_attempts=3))
    with pytest.raises(CcaiConnectionError, match="host must be an http\\(s\\) URL") as sync_failure:
        CloudContactHook(backoff_initial=0, backoff_max=0).list_campaigns()
    with pytest.raises(CcaiConnectionError, match="host must be an http\\(s\\) URL") as async_failure:
        _async_stats(1)
    assert isinstance(async_failure.value, AirflowFailException)
    assert_no_secrets(str(sync_failure.value), str(async_failure.value), *logs.messages)
    assert not [message for message in logs.messages if "retrying in" in message]
    assert len(http.calls) == 0


def test_async_stats_fail_without_retry_on_other_5xx(sandbox: Any) -> None:
    sandbox.add_fault("stats", "status", times=5, status=501)
    with pytest.raises(CcaiRejectedError, match="HTTP 501"):
        _async_stats(1)
    assert [entry["endpoint"] for entry in sandbox.requests_seen()] == ["stats"]


@pytest.mark.parametrize("fault", ["malformed_json", "transport"])
def test_async_stats_errors_keep_no_context(sandbox: Any, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """httpx's error holds the request (key header included) and a decode error the body: neither is kept."""
    if fault == "transport":  # nothing listens there: connection refused
        from tests.integration.airflow_support import free_port

        closed = f"http://127.0.0.1:{free_port()}"
        set_connection(monkeypatch, connection_json(f"{closed}/api", closed, API_KEY, max_attempts=1))
    else:
        sandbox.add_fault("stats", "malformed_json", times=5)
    with pytest.raises(CcaiTransientError) as raised:
        _async_stats(1, max_attempts=1)
    assert raised.value.__context__ is None and raised.value.__cause__ is None


@pytest.mark.parametrize(
    "error",
    [
        CcaiRejectedError("POST /x", 400, "bad"),
        CcaiTransientError("GET /y", 503, "busy", retry_after=7.0),
        CcaiAmbiguousResultError("POST /z", None, "read timed out"),
    ],
    ids=["rejected", "transient", "ambiguous"],
)
def test_api_errors_survive_pickle_and_copy(error: CcaiApiError) -> None:
    """Whatever copies an exception (a callback's context, a process boundary) gets the same error back."""
    for copied in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(copied) is type(error)
        assert str(copied) == str(error)
        assert copied.__dict__ == error.__dict__


def test_http_debug_lines_of_an_upload_hide_the_signed_urls_signature(
    sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3 logs each request line at DEBUG; for the PUT that line holds the signed URL's query."""
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        key = CloudContactHook().upload_file(b"GIF89a" + b"\x00" * 32, "debug.gif", "image/gif")

    put_lines = [record.getMessage() for record in caplog.records if '"PUT /s3/' in record.getMessage()]
    assert len(put_lines) == 1 and key.endswith("/debug.gif")
    assert "X-Amz-Signature=***" in put_lines[0]
    (upload,) = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "put"]
    assert upload["status"] == 200
    assert not re.search(r"X-Amz-Signature=[0-9a-f]{8}", caplog.text)


@pytest.mark.usefixtures("fresh_ssl_context")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_given_to_requests_is_trusted_on_the_async_path_too(
    untrusted_tls_server: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """A company CA set for ``requests`` serves the deferrable sensor's trigger as it serves the operators."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # some machines set both to the system bundle
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "cert.pem"))  # the server's own certificate, as the CA
    set_connection(
        monkeypatch, connection_json(f"{untrusted_tls_server}/api", untrusted_tls_server, API_KEY, max_attempts=1)
    )
    # The server answers every request 501: reaching it proves the certificate was trusted.
    with pytest.raises(CcaiApiError) as sync_failure:
        CloudContactHook().list_campaigns()
    with pytest.raises(CcaiApiError) as async_failure:
        _async_stats(1)
    assert sync_failure.value.status == async_failure.value.status == 501


@pytest.fixture
def redirecting_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """
    A loopback server that answers every GET with 307 to a second one; yield its URL and the headers of each
    request that reached the second (which answers valid stats and campaigns, so a followed redirect succeeds).
    """
    import http.server
    import threading

    reached: list[dict[str, str]] = []
    stats = json.dumps({"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 1, "totalCount": 1})

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            reached.append(dict(self.headers))
            body = (stats if "/stats" in self.path else "[]").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)

    class Redirect(Target):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{target.server_address[1]}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in (target, redirect)
    ]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{redirect.server_address[1]}", reached
    finally:
        for server in (target, redirect):
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(timeout=10)


def test_a_redirect_is_refused_on_the_sync_and_async_paths_and_the_key_never_follows_it(
    redirecting_server: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect could carry the bearer key to another host: neither client follows one, and no retry repeats it."""
    url, reached = redirecting_server
    set_connection(monkeypatch, connection_json(f"{url}/api", url, API_KEY, max_attempts=3))
    hook = CloudContactHook(backoff_initial=0, backoff_max=0)

    with pytest.raises(CcaiRejectedError, match="307"):
        hook.list_campaigns()
    with pytest.raises(CcaiRejectedError, match="307") as async_failure:
        _async_stats(1)
    assert isinstance(async_failure.value, AirflowFailException)
    assert reached == []
