"""Local emulator of the CloudContactAI (CCAI) core API, files API and signed-URL S3 PUT.

Standard library only. Start a :class:`SandboxServer`, point a CCAI connection at
:attr:`SandboxServer.api_url` (core API) and :attr:`SandboxServer.base_url` (files API), and
inspect what the client sent through the ``/_sandbox/*`` endpoints or the inspection helpers.
Faults (error statuses, dropped connections, delays, broken JSON, expired or rejected uploads)
can be injected per endpoint to test retry and idempotency behaviour.

The API key and the signature of signed URLs are never logged or journaled.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlsplit

MAX_FILE_BYTES = 1_048_576
"""Largest accepted upload (the documented 1 MB MMS limit)."""
MAX_JSON_BYTES = 10 * 1_048_576
"""Largest JSON request body kept in memory; larger bodies get 413."""
MAX_DRAIN_BYTES = 64 * 1_048_576
"""Oversized bodies up to this size are read and discarded so the connection stays usable."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a JSON request body (deeper ones get 400)."""
MAX_FAULT_SECONDS = 86400
"""Largest ``seconds`` and ``retry_after`` of a fault (one day)."""
MAX_S3_KEY_BYTES = 1024
"""Longest object key S3 accepts, in bytes of UTF-8."""
FIRST_CAMPAIGN_ID = 1001
ALLOWED_FILE_TYPES = ("image/jpeg", "image/png", "image/gif")
ERROR_PHONE_PREFIX = "+1500555"
"""Recipients whose phone starts with this prefix (Twilio magic test numbers) end in error."""
ENDPOINTS = (
    "upload_url",
    "put",
    "get_file",
    "stored_url",
    "create_campaign",
    "list_campaigns",
    "stats",
    "cancel",
)
FAULT_ACTIONS = (
    "status",
    "status_after",
    "reset_before",
    "reset_after",
    "delay",
    "malformed_json",
    "expire_url",
    "reject_put",
    "slow_put",
    "lose_put",
)
_FAULTS_BEFORE_ACTION = ("status", "reset_before", "malformed_json", "reject_put", "slow_put", "lose_put")
_FAULT_ONLY_FOR = {"expire_url": "upload_url", "reject_put": "put", "slow_put": "put", "lose_put": "put"}
_FAULT_FIELDS = ("endpoint", "action", "times", "status", "retry_after", "seconds", "after")
#: statuses whose responses end with the headers: no body and no Content-Length (RFC 9110 6.4.1, 8.6)
_STATUSES_WITHOUT_BODY = (204, 304)

_AMZ_ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_SIGNED_HEADERS = "content-type;host"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_BASE_PATH = re.compile(r"[0-9]+/campaign")
_POSITIVE_INT = re.compile(r"0*[1-9][0-9]{0,17}")
_ISO_8601 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
#: the query parameters of an issued upload URL; S3 answers SignatureDoesNotMatch to any other set
_SIGNED_QUERY_PARAMETERS = frozenset(
    {"X-Amz-Algorithm", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires", "X-Amz-Signature"}
)
_SIGNATURE_IN_TEXT = re.compile(r"(X-Amz-Signature=)[^&\s\"]*", re.IGNORECASE)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: the escapes http.server's own log_message applies to control characters (its table is private, and
#: Python 3.10 releases before 3.10.9 lack it)
_LOG_ESCAPES = str.maketrans(
    {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {ord("\\"): "\\\\"}
)

# Routes of the emulated APIs: path pattern -> {HTTP method: endpoint name}.
_ROUTES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = (
    (re.compile(r"/upload/url"), {"POST": "upload_url"}),
    (re.compile(r"/s3/(?P<key>.+)"), {"PUT": "put", "GET": "get_file"}),
    (re.compile(r"/api/clients/(?P<cid>[^/]+)/storedUrl"), {"GET": "stored_url"}),
    (re.compile(r"/api/clients/(?P<cid>[^/]+)/campaigns/direct"), {"POST": "create_campaign"}),
    (re.compile(r"/api/clients/(?P<cid>[^/]+)/campaigns"), {"GET": "list_campaigns"}),
    (re.compile(r"/api/v2/messages/campaign/(?P<id>[^/]+)/stats"), {"GET": "stats"}),
    (re.compile(r"/api/campaigns/(?P<id>[^/]+)"), {"DELETE": "cancel"}),
)
_CONTROL_ROUTES: dict[str, tuple[str, ...]] = {
    "/_sandbox/requests": ("GET",),
    "/_sandbox/campaigns": ("GET",),
    "/_sandbox/files": ("GET",),
    "/_sandbox/faults": ("GET", "POST", "DELETE"),
    "/_sandbox/reset": ("POST",),
}


def _utc_now_iso() -> str:
    """Return the current UTC time as ISO-8601 with microseconds and a trailing Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_type(value: Any) -> str:
    """Name the JSON type of a decoded value for error messages.

    :param value: a value produced by :func:`json.loads`.
    """
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def parse_iso8601(text: str) -> datetime | None:
    """Parse an ISO-8601 date-time (``Z``/offset optional, naive means UTC) into aware UTC.

    :param text: e.g. ``2025-01-28T14:46:44.388Z`` or ``2025-01-28T09:46:44-05:00``.
    :return: the instant in UTC, or None if ``text`` is not a valid ISO-8601 date-time.
    """
    match = _ISO_8601.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tzinfo = timezone.utc
    if offset and offset not in ("Z", "z"):
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        try:
            tzinfo = timezone(-delta if offset[0] == "-" else delta)
        except ValueError:
            return None
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=tzinfo,
        )
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # e.g. month 13, or 9999-12-31 with a negative offset
        return None


def connection_dict(login: str, password: str, api_url: str, files_url: str) -> dict[str, Any]:
    """Build the Airflow connection (JSON form) for a CCAI sandbox.

    :param login: the CCAI client id.
    :param password: the API key (or a placeholder when printing).
    :param api_url: the core API base URL (``.../api``).
    :param files_url: the files API base URL.
    """
    return {
        "conn_type": "ccai",
        "login": login,
        "password": password,
        "host": api_url,
        "extra": {"files_url": files_url},
    }


@dataclass
class _Response:
    """An HTTP response to send.

    :param status: HTTP status code.
    :param body: response body bytes.
    :param content_type: Content-Type header value, None for no header.
    :param headers: extra headers.
    """

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    """Build a JSON response.

    :param status: HTTP status code.
    :param payload: JSON-serialisable body.
    :param headers: extra headers.
    """
    return _Response(status, json.dumps(payload).encode("utf-8"), "application/json", dict(headers or {}))


def _bad_request(message: str) -> _Response:
    """Build a 400 JSON response.

    :param message: ``"<field>: <why>"``.
    """
    return _json_response(400, {"error": "Bad Request", "message": message})


def _not_found(message: str) -> _Response:
    """Build a 404 JSON response.

    :param message: what was not found.
    """
    return _json_response(404, {"error": "Not Found", "message": message})


def _s3_error(status: int, code: str, message: str) -> _Response:
    """Build an S3-style XML error response.

    :param status: HTTP status code.
    :param code: S3 error code, e.g. ``SignatureDoesNotMatch``.
    :param message: human-readable message (plain text without markup characters).
    """
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return _Response(status, xml.encode("utf-8"), "application/xml")


def _injected_response(fault: _Fault) -> _Response:
    """Build the response of a ``status``/``status_after`` fault (without a body for 204 and 304).

    :param fault: the fault being applied.
    """
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(fault.retry_after))
    if fault.status in _STATUSES_WITHOUT_BODY:
        return _Response(fault.status, b"", None, headers)
    return _json_response(fault.status, {"error": "injected", "status": fault.status}, headers)


def _not_json_content(request: _Request) -> _Response | None:
    """Answer 415 when a JSON endpoint's request does not say ``Content-Type: application/json``.

    :param request: the current request.
    """
    media_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media_type == "application/json":
        return None
    shown = media_type or "none"
    return _json_response(
        415, {"error": "Unsupported Media Type", "message": f"Content-Type: expected application/json, got {shown}"}
    )


def _parse_json_body(body: bytes) -> tuple[Any, str | None]:
    """Decode a JSON request body.

    :param body: raw request body.
    :return: (decoded value, None) or (None, error message naming the problem).
    """
    if not body.strip():
        return None, "body: empty, expected a JSON object"
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        return None, "body: not UTF-8"
    except json.JSONDecodeError as exc:
        return None, f"body: invalid JSON ({exc})"
    except RecursionError:
        return None, "body: invalid JSON (nested too deeply)"
    except ValueError as exc:  # NaN/Infinity, a number beyond a float, or an integer longer than Python converts
        return None, f"body: invalid JSON ({exc})"
    if _nesting_depth(value) > MAX_JSON_DEPTH:
        return None, f"body: nested more than {MAX_JSON_DEPTH} levels deep"
    return value, None


def _reject_constant(name: str) -> Any:
    """Refuse ``NaN``/``Infinity``, which Python's json accepts and JSON does not.

    :param name: the constant found.
    """
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """Decode a JSON number with a fraction or exponent, refusing one beyond a float (e.g. ``1e999``).

    Python would read it as infinity and write it back as ``Infinity``, which is not JSON.

    :param text: the number as written in the body.
    """
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number too large for a float")
    return value


def _nesting_depth(value: Any) -> int:
    """Count the arrays and objects nested around the deepest value, without recursion.

    :param value: a value produced by :func:`json.loads`; a scalar has depth 0.
    """
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _validate_campaign(body: dict[str, Any]) -> str | None:
    """Check a ``campaigns/direct`` request body.

    :param body: decoded JSON object.
    :return: the first problem as ``"<field>: <why>"``, or None if the body is valid.
    """
    accounts = body.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        return "accounts: must be a non-empty array of account objects"
    for row, account in enumerate(accounts):
        where = f"accounts[{row}]"
        if not isinstance(account, dict):
            return f"{where}: must be an object, got {_json_type(account)}"
        for name in ("firstName", "lastName", "phone"):
            if name not in account:
                return f"{where}.{name}: required"
            if not isinstance(account[name], str):
                return f"{where}.{name}: must be a string, got {_json_type(account[name])}"
            if not account[name].strip():
                return f"{where}.{name}: must not be empty"
        if not _E164.fullmatch(account["phone"]):
            return f"{where}.phone: not E.164 (expected + then 7-15 digits, e.g. +14155550123)"
        data = account.get("data")
        if data is not None:
            if not isinstance(data, dict):
                return f"{where}.data: must be an object of strings, got {_json_type(data)}"
            for key, value in data.items():
                if not isinstance(value, str):
                    return f"{where}.data.{key}: must be a string, got {_json_type(value)}"
        message_data = account.get("messageData")
        if message_data is not None and not isinstance(message_data, str):
            return f"{where}.messageData: must be a string, got {_json_type(message_data)}"
    for name in ("message", "title"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return f"{name}: must be a non-empty string"
    for name in ("senderPhone", "pictureFileKey", "scheduledTimezone", "scheduledTimestamp"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name}: must be a string, got {_json_type(value)}"
    scheduled = body.get("scheduledTimestamp")
    if scheduled is not None and parse_iso8601(scheduled) is None:
        return "scheduledTimestamp: not an ISO-8601 date-time (e.g. 2025-01-28T14:46:44.388Z)"
    return None


def _validate_upload_request(body: dict[str, Any], client_id: str | None) -> str | None:
    """Check a ``POST /upload/url`` request body.

    :param body: decoded JSON object.
    :param client_id: the configured client id, or None to accept any numeric one.
    :return: the first problem as ``"<field>: <why>"``, or None if the body is valid.
    """
    name = body.get("fileName")
    if not isinstance(name, str) or not name.strip():
        return "fileName: must be a non-blank string"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from the JSON escape \ud800
        return "fileName: must be valid Unicode (no lone surrogates)"
    if _CONTROL_CHARACTER.search(name):
        return "fileName: must not contain control characters"
    if "/" in name or ".." in name or name == ".":
        return "fileName: must not contain '/' or '..', nor be '.'"
    if body.get("fileType") not in ALLOWED_FILE_TYPES:
        return f"fileType: must be one of {', '.join(ALLOWED_FILE_TYPES)}"
    base_path = body.get("fileBasePath")
    if not isinstance(base_path, str) or not _BASE_PATH.fullmatch(base_path):
        return "fileBasePath: must be '<clientId>/campaign'"
    if client_id is not None and base_path != f"{client_id}/campaign":
        return f"fileBasePath: must be '{client_id}/campaign'"
    if len(f"{base_path}/{name}".encode()) > MAX_S3_KEY_BYTES:
        return f"fileName: the key '{base_path}/<fileName>' is longer than {MAX_S3_KEY_BYTES} bytes of UTF-8"
    if "publicFile" in body and not isinstance(body["publicFile"], bool):
        return "publicFile: must be a boolean"
    return None


@dataclass
class _Fault:
    """One injected fault (see :meth:`SandboxServer.add_fault`)."""

    endpoint: str
    action: str
    times: int
    status: int
    retry_after: float | None
    seconds: float
    after: int


@dataclass
class _Campaign:
    """A stored campaign.

    :param received: the request body as received.
    :param start_ts: epoch seconds when sending starts (creation or a future schedule).
    :param errors: per account, whether it ends in error.
    """

    id: int
    client_id: str
    received: dict[str, Any]
    created_date: str
    start_ts: float
    scheduled_timestamp: str | None
    force_new_campaign: str | None
    warnings: list[str]
    errors: list[bool]


@dataclass
class _StoredFile:
    """An uploaded object."""

    data: bytes
    content_type: str
    sha256: str
    uploads: int

    def info(self) -> dict[str, Any]:
        """Return the public metadata of the object."""
        return {
            "size": len(self.data),
            "sha256": self.sha256,
            "content_type": self.content_type,
            "uploads": self.uploads,
        }


@dataclass
class _Request:
    """A request being processed by the emulated APIs.

    :param length: declared Content-Length; larger than ``len(body)`` when the body was too large to keep.
    :param host: the Host header, used to build URLs the client can reach.
    """

    method: str
    path: str
    query: str
    headers: Message
    body: bytes
    length: int
    host: str | None
    params: dict[str, str] = field(default_factory=dict)
    entry: dict[str, Any] = field(default_factory=dict)
    fault: _Fault | None = None
    #: the signature of the signed URL this request's answer hands out, if it does
    signature: str | None = None


class SandboxServer:
    """Local emulator of the CCAI core API, files API and signed-URL S3 PUT, with fault injection.

    :param api_key: bearer token clients must send to ``/api/*`` and ``/upload/url``.
    :param client_id: if set, requests for any other client id get 403.
    :param host: address to bind (loopback by default).
    :param port: port to bind; 0 picks a free one.
    :param url_ttl_seconds: lifetime of issued signed upload URLs (``X-Amz-Expires``).
    :param send_seconds: time a campaign takes from all pending to all done.
    :param journal_path: if set, every journal entry is also appended to this file as a JSON line; :meth:`start`
        creates the file, or fails if it cannot be opened for appending.
    :param verbose: log one line per HTTP request to stderr (signatures redacted).
    """

    def __init__(
        self,
        api_key: str,
        *,
        client_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        url_ttl_seconds: int = 86400,
        send_seconds: float = 3.0,
        journal_path: str | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self._api_key = api_key
        self.client_id = None if client_id is None else str(client_id)
        self.host = host
        self.port = port
        self.url_ttl_seconds = int(url_ttl_seconds)
        self.send_seconds = float(send_seconds)
        self.journal_path = journal_path
        self.verbose = verbose
        self._secret = os.urandom(32)
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None
        self._ops: dict[str, Callable[[_Request], _Response]] = {
            "upload_url": self._op_upload_url,
            "put": self._op_put,
            "get_file": self._op_get_file,
            "stored_url": self._op_stored_url,
            "create_campaign": self._op_create_campaign,
            "list_campaigns": self._op_list_campaigns,
            "stats": self._op_stats,
            "cancel": self._op_cancel,
        }
        self._campaigns: dict[int, _Campaign] = {}
        self._files: dict[str, _StoredFile] = {}
        self._journal: list[dict[str, Any]] = []
        self._signatures: list[str] = []
        self._faults: list[_Fault] = []
        self._next_id = FIRST_CAMPAIGN_ID
        self._next_seq = 1

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        """Create or open the journal file, if any, then bind and serve in a background daemon thread.

        :return: self.
        :raises OSError: if the journal file cannot be opened for appending, or the address cannot be bound.
        """
        if self._httpd is not None:
            raise RuntimeError("sandbox already started")
        if self.journal_path:
            try:
                with open(self.journal_path, "a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise OSError(f"cannot append to journal file {self.journal_path}: {exc.strerror or exc}") from exc
        httpd = _HTTPServer((self.host, self.port), self)
        bound_host, bound_port = str(httpd.server_address[0]), int(httpd.server_address[1])
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{shown_host}:{bound_port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ccai-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end delayed responses early, close client connections and join the thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._httpd = self._thread = None
        httpd.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Root URL of the server (files API, S3 and control endpoints), e.g. ``http://127.0.0.1:54321``."""
        if self._base_url is None:
            raise RuntimeError("sandbox not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """Base URL of the emulated core API (``base_url + "/api"``)."""
        return self.base_url + "/api"

    def connection_uri_json(self, client_id: str) -> str:
        """Return the JSON value for ``AIRFLOW_CONN_CCAI_DEFAULT`` (contains the API key).

        :param client_id: the CCAI client id to put in ``login``.
        """
        return json.dumps(connection_dict(str(client_id), self._api_key, self.api_url, self.base_url))

    # ------------------------------------------------------------------ inspection and control

    def requests_seen(self) -> list[dict[str, Any]]:
        """Return a copy of the request journal (oldest first)."""
        with self._lock:
            return copy.deepcopy(self._journal)

    def campaigns(self) -> list[dict[str, Any]]:
        """Return all campaigns (oldest first) as received plus server fields, accounts and headers."""
        now = time.time()
        with self._lock:
            return [self._campaign_full(campaign, now) for campaign in self._campaigns.values()]

    def issued_signatures(self) -> list[str]:
        """Return the signatures of the signed upload URLs handed out in 200 answers (oldest first), for leak checks.

        A test can assert that none appears in its logs, XComs or errors. Only this method shows them: the
        journal, the log and the HTTP inspection endpoints never do.
        """
        with self._lock:
            return list(self._signatures)

    def files(self) -> dict[str, dict[str, Any]]:
        """Return stored objects: key -> ``{"size", "sha256", "content_type", "uploads"}``."""
        with self._lock:
            return {key: stored.info() for key, stored in self._files.items()}

    def file_bytes(self, key: str) -> bytes:
        """Return the bytes stored under ``key``.

        :param key: object key, e.g. ``1234/campaign/logo.png``.
        :raises KeyError: if nothing is stored under ``key``.
        """
        with self._lock:
            return self._files[key].data

    def add_fault(
        self,
        endpoint: str,
        action: str,
        *,
        times: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        seconds: float = 0.0,
        after: int = 0,
    ) -> None:
        """Inject a fault into the next ``times`` requests of ``endpoint``, after letting ``after`` through.

        :param endpoint: one of :data:`ENDPOINTS`.
        :param action: one of :data:`FAULT_ACTIONS`.
        :param times: number of requests the fault applies to.
        :param status: status for ``status``/``status_after``.
        :param retry_after: seconds for a ``Retry-After`` header on ``status``/``status_after``.
        :param seconds: sleep before responding for ``delay``.
        :param after: number of requests of ``endpoint`` served normally before the fault starts.
        :raises ValueError: if an argument is invalid.
        """
        fault = self._make_fault(endpoint, action, times, status, retry_after, seconds, after)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Remove all pending faults."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget campaigns, files, journal, issued signatures and faults; campaign ids restart at 1001."""
        with self._lock:
            self._campaigns.clear()
            self._files.clear()
            self._journal.clear()
            self._signatures.clear()
            self._faults.clear()
            self._next_id = FIRST_CAMPAIGN_ID
            self._next_seq = 1

    @staticmethod
    def _make_fault(
        endpoint: Any, action: Any, times: Any, status: Any, retry_after: Any, seconds: Any, after: Any
    ) -> _Fault:
        """Validate fault arguments.

        :param endpoint: endpoint name.
        :param action: fault action.
        :param times: positive int.
        :param status: HTTP status 200-599 (a 1xx status is no final answer).
        :param retry_after: None or a number of seconds from 0 to MAX_FAULT_SECONDS.
        :param seconds: a number from 0 to MAX_FAULT_SECONDS.
        :param after: non-negative int.
        :raises ValueError: naming the invalid argument.
        """

        def is_seconds(value: Any) -> bool:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return False
            return 0 <= value <= MAX_FAULT_SECONDS  # NaN compares false

        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint: must be one of {', '.join(ENDPOINTS)}")
        if action not in FAULT_ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(FAULT_ACTIONS)}")
        if _FAULT_ONLY_FOR.get(action, endpoint) != endpoint:
            raise ValueError(f"action: {action} only applies to endpoint {_FAULT_ONLY_FOR[action]}")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError("times: must be a positive integer")
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise ValueError("status: must be an HTTP status code from 200 to 599")
        if retry_after is not None and not is_seconds(retry_after):
            raise ValueError(f"retry_after: must be a number from 0 to {MAX_FAULT_SECONDS}")
        if not is_seconds(seconds):
            raise ValueError(f"seconds: must be a number from 0 to {MAX_FAULT_SECONDS}")
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise ValueError("after: must be a non-negative integer")
        return _Fault(endpoint, action, times, status, retry_after, float(seconds), after)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        """Consume one use of the first pending fault for ``endpoint`` (or one request it lets through first).

        :param endpoint: endpoint name of the current request.
        """
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint:
                    if fault.after:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        """Serve a ``/_sandbox/*`` control request (not journaled, no auth).

        :param method: HTTP method.
        :param path: request path.
        :param body: request body.
        """
        allowed = _CONTROL_ROUTES.get(path)
        if allowed is None:
            return _not_found(f"no sandbox endpoint {path}")
        if method not in allowed:
            return _json_response(
                405,
                {"error": "Method Not Allowed", "message": f"{method} not allowed on {path}"},
                {"Allow": ", ".join(allowed)},
            )
        if path == "/_sandbox/requests":
            return _json_response(200, self.requests_seen())
        if path == "/_sandbox/campaigns":
            return _json_response(200, self.campaigns())
        if path == "/_sandbox/files":
            return _json_response(200, self.files())
        if path == "/_sandbox/reset":
            self.reset()
            return _json_response(200, {"reset": True})
        if method == "POST":
            problem = self._add_faults_from_json(body)
            if problem:
                return _bad_request(problem)
        elif method == "DELETE":
            self.clear_faults()
        with self._lock:
            return _json_response(200, {"faults": [asdict(fault) for fault in self._faults]})

    def _add_faults_from_json(self, body: bytes) -> str | None:
        """Add one fault or a list of faults given as JSON; all or none are added.

        :param body: JSON object or array of objects with keys from :data:`_FAULT_FIELDS`.
        :return: an error message, or None on success.
        """
        value, problem = _parse_json_body(body)
        if problem:
            return problem
        specs = value if isinstance(value, list) else [value]
        faults = []
        for index, spec in enumerate(specs):
            where = f"faults[{index}]" if isinstance(value, list) else "fault"
            if not isinstance(spec, dict):
                return f"{where}: must be an object, got {_json_type(spec)}"
            unknown = sorted(set(spec) - set(_FAULT_FIELDS))
            if unknown:
                return f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(_FAULT_FIELDS)})"
            try:
                faults.append(
                    self._make_fault(
                        spec.get("endpoint"),
                        spec.get("action"),
                        spec.get("times", 1),
                        spec.get("status", 503),
                        spec.get("retry_after"),
                        spec.get("seconds", 0.0),
                        spec.get("after", 0),
                    )
                )
            except ValueError as exc:
                return f"{where}.{exc}"
        with self._lock:
            self._faults.extend(faults)
        return None

    # ------------------------------------------------------------------ request processing

    def _process(self, request: _Request) -> tuple[_Response | None, float]:
        """Route, authorize, apply faults, act and journal one request of the emulated APIs.

        :param request: the parsed request.
        :return: (response, or None to drop the connection; seconds to wait before responding).
        """
        path = request.path
        entry: dict[str, Any] = {
            "seq": None,
            "time": _utc_now_iso(),
            "method": request.method,
            "path": path,
            "endpoint": None,
            "query_keys": list(dict.fromkeys(k for k, _ in parse_qsl(request.query, keep_blank_values=True))),
            "auth": "n/a",
            "status": None,
            "content_type": request.headers.get("Content-Type"),
            "size": request.length,
        }
        request.entry = entry
        endpoint, allowed = None, None
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match:
                request.params = match.groupdict()
                endpoint, allowed = methods.get(request.method), sorted(methods)
                break
        entry["endpoint"] = endpoint
        protected = path == "/upload/url" or path.startswith("/api/")
        if protected:
            entry["auth"] = self._auth_state(request.headers.get("Authorization"))
        fault = self._take_fault(endpoint) if endpoint else None
        request.fault = fault
        if fault:
            entry["fault"] = fault.action

        response: _Response | None
        acted: _Response | None = None  # the endpoint's own answer, if it acted
        if fault and fault.action in _FAULTS_BEFORE_ACTION:
            response = self._fault_before_action(fault)
        else:
            response = acted = self._act(request, endpoint, allowed, protected and entry["auth"] != "ok")
            if fault and fault.action == "status_after":
                response = _injected_response(fault)
            elif fault and fault.action == "reset_after":
                response = None
        entry["status"] = None if response is None else response.status
        if request.signature is not None and response is acted:  # the signed URL's answer went out
            with self._lock:
                self._signatures.append(request.signature)
        self._journal_append(entry)
        return response, fault.seconds if fault and fault.action == "delay" else 0.0

    def _act(self, request: _Request, endpoint: str | None, allowed: list[str] | None, unauthorized: bool) -> _Response:
        """Answer a request the normal way: 401, 404, 405, 413 or the endpoint's own response.

        :param request: the current request.
        :param endpoint: the endpoint name, None if path or method did not match.
        :param allowed: methods allowed on the matched path, None if no path matched.
        :param unauthorized: the path needs a bearer token and the request's is missing or wrong.
        """
        if unauthorized:
            return _json_response(
                401,
                {"error": "Unauthorized", "message": "missing or invalid bearer token"},
                {"WWW-Authenticate": "Bearer"},
            )
        if allowed is None:
            return _not_found(f"no route for {request.method} {request.path}")
        if endpoint is None:
            return _json_response(
                405,
                {"error": "Method Not Allowed", "message": f"{request.method} not allowed on {request.path}"},
                {"Allow": ", ".join(allowed)},
            )
        if endpoint != "put" and request.length > len(request.body):
            return _json_response(
                413, {"error": "Payload Too Large", "message": f"body: larger than {MAX_JSON_BYTES} bytes"}
            )
        return self._ops[endpoint](request)

    @staticmethod
    def _fault_before_action(fault: _Fault) -> _Response | None:
        """Build the response of a fault that replaces the action.

        :param fault: a fault whose action is in :data:`_FAULTS_BEFORE_ACTION`.
        :return: the response, or None to drop the connection.
        """
        if fault.action == "status":
            return _injected_response(fault)
        if fault.action == "malformed_json":
            return _Response(200, b'{"id": 12', "application/json")
        if fault.action == "reject_put":
            return _s3_error(403, "AccessDenied", "Access Denied")
        if fault.action == "slow_put":  # S3's answer to a body that arrived too slowly
            return _s3_error(
                400,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
            )
        if fault.action == "lose_put":  # storage that says yes but keeps nothing under the key
            return _Response(200, b"", None)
        return None

    def _auth_state(self, header: str | None) -> str:
        """Classify an Authorization header without keeping the token.

        :param header: the Authorization header value, or None.
        :return: ``"ok"``, ``"missing"`` or ``"invalid"``.
        """
        parts = (header or "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
            return "missing" if not parts or parts[0].lower() == "bearer" else "invalid"
        token = parts[1].strip().encode("utf-8")
        return "ok" if hmac.compare_digest(token, self._api_key.encode("utf-8")) else "invalid"

    def _journal_append(self, entry: dict[str, Any]) -> None:
        """Number an entry and append it to the journal (and the journal file, if any).

        A failure to write the file is reported on stderr; the request is answered all the same.

        :param entry: the journal entry; must not contain secrets.
        """
        with self._lock:
            entry["seq"] = self._next_seq
            self._next_seq += 1
            self._journal.append(entry)
            if self.journal_path:
                try:
                    with open(self.journal_path, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(entry) + "\n")
                except OSError as exc:
                    sys.stderr.write(
                        f"ccai-sandbox: journal entry {entry['seq']} not written to {self.journal_path}: "
                        f"{exc.strerror or exc}\n"
                    )

    def _public_base(self, request: _Request) -> str:
        """Return the base URL as the client addressed the server.

        :param request: the current request; its Host header is preferred over the bound address.
        """
        return f"http://{request.host}" if request.host else self.base_url

    def _check_client(self, cid: str) -> _Response | None:
        """Check a client id taken from the path.

        :param cid: the path segment.
        :return: an error response (403 or 400), or None if the id is acceptable.
        """
        if self.client_id is not None and cid != self.client_id:
            return _json_response(
                403, {"error": "Forbidden", "message": "client ID provided doesn't have the authority"}
            )
        if not _POSITIVE_INT.fullmatch(cid):
            return _bad_request("clientId: must be a positive integer")
        return None

    def _sign(self, key: str, content_type: str, amz_date: str, expires: str) -> str:
        """Compute the sandbox signature of an upload URL.

        :param key: object key.
        :param content_type: the Content-Type the upload must use.
        :param amz_date: ``X-Amz-Date`` value.
        :param expires: ``X-Amz-Expires`` value.
        """
        message = f"{key}|{content_type}|{amz_date}|{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ files API and S3

    def _op_upload_url(self, request: _Request) -> _Response:
        """``POST /upload/url``: issue a signed PUT URL (no fileKey is returned, like the real API).

        :param request: the current request.
        """
        unsupported = _not_json_content(request)
        if unsupported:
            return unsupported
        body, problem = _parse_json_body(request.body)
        if problem is None:
            request.entry["json"] = body
            if not isinstance(body, dict):
                problem = f"body: must be a JSON object, got {_json_type(body)}"
            else:
                problem = _validate_upload_request(body, self.client_id)
        if problem:
            return _bad_request(problem)
        key = f"{body['fileBasePath']}/{body['fileName']}"
        issued = time.time()
        if request.fault and request.fault.action == "expire_url":
            issued -= self.url_ttl_seconds + 60
        amz_date = datetime.fromtimestamp(issued, timezone.utc).strftime(_AMZ_DATE_FORMAT)
        expires = str(self.url_ttl_seconds)
        signature = self._sign(key, body["fileType"], amz_date, expires)
        request.signature = signature
        url = (
            f"{self._public_base(request)}/s3/{quote(key)}?X-Amz-Algorithm={_AMZ_ALGORITHM}"
            f"&X-Amz-Date={amz_date}&X-Amz-SignedHeaders={quote(_AMZ_SIGNED_HEADERS, safe='')}"
            f"&X-Amz-Expires={expires}&X-Amz-Signature={signature}"
        )
        return _json_response(200, {"signedS3Url": url})

    def _op_put(self, request: _Request) -> _Response:
        """``PUT /s3/<key>?<signed query>``: store an object like S3 with a presigned URL.

        :param request: the current request.
        """
        key = unquote(request.params["key"])
        content_type = (request.headers.get("Content-Type") or "").strip()
        if request.length == len(request.body):
            request.entry["sha256"] = hashlib.sha256(request.body).hexdigest()
        if request.headers.get("Authorization") is not None:
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        if request.headers.get("Content-Length") is None:
            return _s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        pairs = parse_qsl(request.query, keep_blank_values=True)
        query = dict(pairs)
        amz_date = query.get("X-Amz-Date", "")
        expires = query.get("X-Amz-Expires", "")
        expected = self._sign(key, content_type, amz_date, expires)
        provided = query.get("X-Amz-Signature", "")
        # S3 signs every query parameter: one added to, repeated in or changed from the issued URL fails
        if (
            len(query) != len(pairs)
            or set(query) != _SIGNED_QUERY_PARAMETERS
            or query.get("X-Amz-Algorithm") != _AMZ_ALGORITHM
            or query.get("X-Amz-SignedHeaders") != _AMZ_SIGNED_HEADERS
            or not hmac.compare_digest(expected.encode("ascii"), provided.encode("utf-8"))
        ):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )
        issued = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        if time.time() > issued + int(expires):
            return _s3_error(403, "AccessDenied", "Request has expired")
        if request.length > MAX_FILE_BYTES:
            return _s3_error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
        with self._lock:
            previous = self._files.get(key)
            self._files[key] = _StoredFile(
                request.body,
                content_type,
                request.entry["sha256"],
                (previous.uploads if previous else 0) + 1,
            )
        return _Response(200, b"", None, {"ETag": f'"{hashlib.md5(request.body, usedforsecurity=False).hexdigest()}"'})

    def _op_get_file(self, request: _Request) -> _Response:
        """``GET /s3/<key>``: public read of a stored object.

        :param request: the current request.
        """
        with self._lock:
            stored = self._files.get(unquote(request.params["key"]))
        if stored is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return _Response(200, stored.data, stored.content_type or "application/octet-stream")

    # ------------------------------------------------------------------ core API

    def _op_stored_url(self, request: _Request) -> _Response:
        """``GET /api/clients/{cid}/storedUrl?fileKey=``: URL of a stored object or ``""``.

        :param request: the current request.
        """
        denied = self._check_client(request.params["cid"])
        if denied:
            return denied
        file_key = parse_qs(request.query, keep_blank_values=True).get("fileKey", [""])[0]
        request.entry["file_key"] = file_key
        if not file_key:
            return _bad_request("fileKey: required query parameter")
        with self._lock:
            stored = file_key in self._files
        url = f"{self._public_base(request)}/s3/{quote(file_key)}" if stored else ""
        return _json_response(200, {"storedUrl": url})

    def _op_create_campaign(self, request: _Request) -> _Response:
        """``POST /api/clients/{cid}/campaigns/direct``: validate and store a campaign.

        :param request: the current request.
        """
        cid = request.params["cid"]
        denied = self._check_client(cid)
        if denied:
            return denied
        unsupported = _not_json_content(request)
        if unsupported:
            return unsupported
        body, problem = _parse_json_body(request.body)
        if problem is None:
            request.entry["json"] = body
            if not isinstance(body, dict):
                problem = f"body: must be a JSON object, got {_json_type(body)}"
            else:
                problem = _validate_campaign(body)
        if problem:
            return _bad_request(problem)
        now = time.time()
        scheduled = parse_iso8601(body["scheduledTimestamp"]) if body.get("scheduledTimestamp") else None
        picture = body.get("pictureFileKey")
        with self._lock:
            warnings = []
            if picture and picture not in self._files:
                warnings.append(f"pictureFileKey {picture!r} is not in sandbox storage")
            campaign = _Campaign(
                id=self._next_id,
                client_id=cid,
                received=body,
                created_date=datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                start_ts=max(now, scheduled.timestamp()) if scheduled else now,
                scheduled_timestamp=scheduled.isoformat(timespec="milliseconds") if scheduled else None,
                force_new_campaign=request.headers.get("ForceNewCampaign"),
                warnings=warnings,
                errors=[account["phone"].startswith(ERROR_PHONE_PREFIX) for account in body["accounts"]],
            )
            self._next_id += 1
            self._campaigns[campaign.id] = campaign
            summary = self._campaign_summary(campaign, now)
        summary.update(
            {
                "client": {"id": int(cid), "name": "SANDBOX", "apiKey": None, "accountId": 1},
                "fileKey": None,
                "totalError": None,
                "totalSent": None,
                "totalPending": None,
                "pendingApproval": None,
            }
        )
        return _json_response(200, summary)

    def _op_list_campaigns(self, request: _Request) -> _Response:
        """``GET /api/clients/{cid}/campaigns``: the client's campaigns, newest first.

        :param request: the current request.
        """
        cid = request.params["cid"]
        denied = self._check_client(cid)
        if denied:
            return denied
        now = time.time()
        with self._lock:
            listed = [
                self._campaign_summary(campaign, now)
                for campaign in sorted(self._campaigns.values(), key=lambda c: c.id, reverse=True)
                if int(campaign.client_id) == int(cid)
            ]
        return _json_response(200, listed)

    def _find_campaign(self, raw_id: str) -> _Campaign | _Response:
        """Look up a campaign by the id taken from the path (call with the lock held).

        :param raw_id: the path segment.
        :return: the campaign, or a 400/404 response.
        """
        if not _POSITIVE_INT.fullmatch(raw_id):
            return _bad_request("campaignId: must be a positive integer")
        campaign = self._campaigns.get(int(raw_id))
        if campaign is None:
            return _not_found(f"campaign {int(raw_id)} not found")
        return campaign

    def _op_stats(self, request: _Request) -> _Response:
        """``GET /api/v2/messages/campaign/{id}/stats``: message counts by status.

        :param request: the current request.
        """
        with self._lock:
            found = self._find_campaign(request.params["id"])
            if isinstance(found, _Response):
                return found
            return _json_response(200, self._counts(found, time.time()))

    def _op_cancel(self, request: _Request) -> _Response:
        """``DELETE /api/campaigns/{id}``: delete a campaign that is not fully sent yet.

        :param request: the current request.
        """
        with self._lock:
            found = self._find_campaign(request.params["id"])
            if isinstance(found, _Response):
                return found
            counts = self._counts(found, time.time())
            if counts["errorCount"] + counts["sentCount"] == counts["totalCount"]:
                return _json_response(400, {"message": "campaign already sent"})
            del self._campaigns[found.id]
        return _json_response(200, {"message": "deleted successfully"})

    # ------------------------------------------------------------------ campaign progress (call with the lock held)

    def _counts(self, campaign: _Campaign, now: float) -> dict[str, int]:
        """Compute message counts from elapsed time.

        Account ``i`` of ``n`` starts sending at fraction ``(i + 0.5) / (n + 1)`` of ``send_seconds``
        after the start and is done at fraction ``(i + 1) / n``.

        :param campaign: the campaign.
        :param now: current epoch seconds.
        """
        total = len(campaign.errors)
        elapsed = now - campaign.start_ts
        counts = {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 0, "totalCount": total}
        progress = math.inf if self.send_seconds <= 0 else elapsed / self.send_seconds
        for index, is_error in enumerate(campaign.errors):
            if elapsed < 0 or progress < (index + 0.5) / (total + 1):
                counts["pendingCount"] += 1
            elif progress < (index + 1) / total:
                counts["sendingCount"] += 1
            else:
                counts["errorCount" if is_error else "sentCount"] += 1
        return counts

    def _status(self, campaign: _Campaign, now: float) -> str:
        """Return PENDING, SENDING, SENT or ERROR for a campaign.

        :param campaign: the campaign.
        :param now: current epoch seconds.
        """
        counts = self._counts(campaign, now)
        if counts["pendingCount"] == counts["totalCount"]:
            return "PENDING"
        if counts["sentCount"] + counts["errorCount"] < counts["totalCount"]:
            return "SENDING"
        return "ERROR" if counts["sentCount"] == 0 else "SENT"

    def _campaign_summary(self, campaign: _Campaign, now: float) -> dict[str, Any]:
        """Return a campaign as listed by ``GET /api/clients/{cid}/campaigns``.

        :param campaign: the campaign.
        :param now: current epoch seconds.
        """
        received = campaign.received
        return {
            "id": campaign.id,
            "title": received["title"],
            "message": received["message"],
            "status": self._status(campaign, now),
            "createdDate": campaign.created_date,
            "scheduledTimestamp": campaign.scheduled_timestamp,
            "scheduledTimezone": received.get("scheduledTimezone"),
            "pictureFileKey": received.get("pictureFileKey"),
            "senderPhone": received.get("senderPhone"),
            "campaignType": "SMS",
        }

    def _campaign_full(self, campaign: _Campaign, now: float) -> dict[str, Any]:
        """Return a campaign as received plus server fields (for inspection).

        :param campaign: the campaign.
        :param now: current epoch seconds.
        """
        full = copy.deepcopy(campaign.received)
        full.update(
            {
                "id": campaign.id,
                "clientId": campaign.client_id,
                "createdDate": campaign.created_date,
                "status": self._status(campaign, now),
                "stats": self._counts(campaign, now),
                "forceNewCampaign": campaign.force_new_campaign,
                "sandboxWarnings": list(campaign.warnings),
            }
        )
        return full


class _HTTPServer(ThreadingHTTPServer):
    """Threading HTTP server that tracks connections so stop() can close them and faults can reset them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        """Bind the server.

        :param address: (host, port) to bind.
        :param sandbox: the owner of the emulated state.
        """
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._aborted: set[socket.socket] = set()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup HTTPServer does (it can stall without DNS)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection, then handle it in a thread.

        :param request: the connected socket.
        :param client_address: peer address.
        """
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def abort_on_close(self, request: socket.socket) -> None:
        """Close ``request`` with a TCP reset instead of an orderly shutdown.

        :param request: the connected socket (SO_LINGER must already be (1, 0)).
        """
        with self._connections_lock:
            self._aborted.add(request)

    def shutdown_request(self, request: Any) -> None:
        """Close a finished connection (abruptly if it was marked by :meth:`abort_on_close`).

        :param request: the connected socket.
        """
        with self._connections_lock:
            self._connections.discard(request)
            aborted = request in self._aborted
            self._aborted.discard(request)
        if aborted:
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down all open client connections so their handler threads end."""
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore socket errors (client went away, connection closed at stop); report others.

        :param request: the connected socket.
        :param client_address: peer address.
        """
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler doing the I/O; the logic lives in :class:`SandboxServer`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def version_string(self) -> str:
        """Return the Server header value."""
        return "ccai-sandbox/1.0"

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH (always 404/405)."""
        self._dispatch()

    def _dispatch(self) -> None:
        """Read the body, let the sandbox process the request, then respond, delay or reset."""
        sandbox = self.server.sandbox
        split = urlsplit(self.path)
        is_control = split.path == "/_sandbox" or split.path.startswith("/_sandbox/")
        limit = MAX_FILE_BYTES if split.path.startswith("/s3/") else MAX_JSON_BYTES
        read = self._read_body(limit)
        if read is None:
            return
        body, length = read
        if is_control:
            if length > len(body):
                self._send(_json_response(413, {"error": "Payload Too Large", "message": "body: too large"}))
            else:
                self._send(sandbox._control(self.command, split.path, body))
            return
        request = _Request(self.command, split.path, split.query, self.headers, body, length, self.headers.get("Host"))
        response, delay = sandbox._process(request)
        if response is None:
            self._reset_connection()
            return
        if delay:
            self.server.stopping.wait(delay)
        self._send(response)

    def _read_body(self, limit: int) -> tuple[bytes, int] | None:
        """Read the request body by Content-Length.

        :param limit: largest body kept; a larger one is drained (up to MAX_DRAIN_BYTES) and returned empty.
        :return: (body, declared length), or None when the request was answered or the client went away.
        """
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(
                _json_response(
                    411,
                    {"error": "Length Required", "message": "Transfer-Encoding: not supported, send Content-Length"},
                )
            )
            return None
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not re.fullmatch(r"[0-9]{1,18}", raw_length):
            self.close_connection = True
            self._send(_bad_request("Content-Length: must be a non-negative integer"))
            return None
        length = int(raw_length)
        if length <= limit:
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                return None
            return body, length
        if length > MAX_DRAIN_BYTES:
            self.close_connection = True
            return b"", length
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                self.close_connection = True
                return None
            remaining -= len(chunk)
        return b"", length

    def _send(self, response: _Response) -> None:
        """Write a complete response with Content-Length (204 and 304: headers only, as HTTP requires).

        :param response: the response.
        """
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        has_body = response.status not in _STATUSES_WITHOUT_BODY
        if has_body:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if has_body:
            self.wfile.write(response.body)

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP reset and without writing anything."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.abort_on_close(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Log to stderr only in verbose mode, control characters escaped and signed-URL signatures redacted.

        :param format: %-format string.
        :param args: format arguments.
        """
        if self.server.sandbox.verbose:
            text = _SIGNATURE_IN_TEXT.sub(r"\1<redacted>", (format % args).translate(_LOG_ESCAPES))
            sys.stderr.write(f"{self.address_string()} - [{self.log_date_time_string()}] {text}\n")
