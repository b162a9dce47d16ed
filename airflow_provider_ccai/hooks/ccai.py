"""Hook for the CloudContactAI (CCAI) core and files APIs."""

from __future__ import annotations

import json
import math
import os
import random
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import cache, cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import tenacity

from airflow_provider_ccai.exceptions import (
    CcaiAmbiguousResultError,
    CcaiApiError,
    CcaiConnectionError,
    CcaiConnectionNotFoundError,
    CcaiInputError,
    CcaiRejectedError,
    CcaiTransientError,
)
from airflow_provider_ccai.utils.polling import first_found
from airflow_provider_ccai.utils.redact import (
    hide_signed_urls_in_http_logs,
    phone_shaped,
    query_values,
    redact,
    signing_secrets,
    strip_query,
)
from airflow_provider_ccai.utils.validation import LARGEST, hook_argument_problem, parse_iso_datetime
from airflow_provider_ccai.version_compat import AirflowNotFoundException, BaseHook, mask_secret

DEFAULT_API_URL = "https://core.cloudcontactai.com/api"
DEFAULT_FILES_URL = "https://files.cloudcontactai.com"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 60.0
#: Longest file key (``<client id>/campaign/<file name>``) object storage accepts, in bytes of UTF-8 (S3's limit).
MAX_FILE_KEY_BYTES = 1024

_STATUS_HINTS = {
    401: "CCAI rejected the API key (check the connection's API Key); ",
    403: "this API key may not act for this client (check the connection's Client ID); ",
}
#: 5xx statuses that say the server will not serve this request however often it comes (Not Implemented, HTTP
#: Version Not Supported): a call that is safe to repeat fails on them at once. Any other 5xx, 408 and 429 are
#: transient (a proxy's or CDN's 507, 520-529 included); any other 4xx is a rejection.
FINAL_SERVER_ERRORS = frozenset({501, 505})
#: Request errors raised before anything is sent that no retry can fix (a bad URL or header in the connection).
_UNBUILDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)
#: Sorts before every real ``createdDate``: a campaign whose creation time is unknown.
_UNKNOWN_TIME = datetime.min.replace(tzinfo=timezone.utc)
#: how much older than it is a ``createdDate`` without an offset may look when read as UTC (UTC-12 is the furthest
#: behind): such a campaign counts as this much later when matched against a lookup window.
LOCAL_TIME_ALLOWANCE = timedelta(hours=12)

T = TypeVar("T")

_FILE_KEY_FIELDS = frozenset({"fileKey", "pictureFileKey"})
_SECRET_NAME = re.compile(r"(?i)key|token|secret|password|credential|signature|authorization")
#: names of fields that may hold a recipient's data, left out of the ``campaign`` XCom (but ``sender...`` ones)
_RECIPIENT_NAME = re.compile(r"(?i)phone|first_?name|last_?name|e_?mail|account|contact|recipient")


@dataclass(frozen=True)
class CcaiSettings:
    """
    What the hook needs from the ``ccai`` connection, validated.

    :param client_id: CCAI client id (the connection's login).
    :param api_key: API key (the connection's password); never logged.
    :param api_url: core API base URL, without a trailing slash.
    :param files_url: files API base URL, without a trailing slash.
    :param connect_timeout: seconds to wait for a connection.
    :param read_timeout: seconds to wait for a response.
    :param max_attempts: attempts per retryable call, the first one included.
    """

    client_id: str
    api_key: str = field(repr=False)
    api_url: str
    files_url: str
    connect_timeout: float
    read_timeout: float
    max_attempts: int


def _wait_for(retry_state: tenacity.RetryCallState, initial: float, cap: float) -> float:
    """Capped exponential backoff with full jitter, or the server's ``Retry-After`` (capped)."""
    error = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(error, CcaiTransientError) and error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_AFTER)
    return random.uniform(0, min(cap, initial * 2 ** (retry_state.attempt_number - 1)))


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, CcaiTransientError)


def _never_reached(error: BaseException) -> bool:
    """True for failures that prove the request never reached the server (no connection was made)."""
    return isinstance(error, CcaiTransientError) and error.status is None


def _never_sent(error: BaseException) -> bool:
    """:func:`_never_reached`, or the server refused to act (429): how a repeated DELETE reads a 404 after it."""
    return _never_reached(error) or (isinstance(error, CcaiTransientError) and error.status == 429)


class CloudContactHook(BaseHook):
    """
    Talk to CloudContactAI: signed-URL uploads, stored-file checks, campaigns and their stats.

    One ``requests.Session`` per hook; every request has a connect and a read timeout. Calls that are
    safe to repeat are retried on connection errors, 408, 429 and any 5xx but 501 and 505, with capped, jittered
    exponential backoff (honouring ``Retry-After``); campaign creation is never re-sent once it may have reached
    the server. See ``docs/connection.md`` for the connection fields.

    :param ccai_conn_id: the ``ccai`` connection to use.
    :param timeout: read timeout in seconds (overrides the connection's ``timeout`` extra).
    :param connect_timeout: connect timeout in seconds (overrides the ``connect_timeout`` extra).
    :param max_attempts: attempts per retryable call, first one included (overrides ``max_attempts``).
    :param backoff_initial: upper bound of the first backoff interval in seconds (each wait is jittered).
    :param backoff_max: cap on one backoff interval in seconds.
    """

    conn_name_attr = "ccai_conn_id"
    default_conn_name = "ccai_default"
    conn_type = "ccai"
    hook_name = "CloudContactAI"
    #: checks that CCAI stores a just-uploaded key, :attr:`STORED_CHECK_INTERVAL` seconds apart.
    STORED_CHECK_ATTEMPTS = 3
    STORED_CHECK_INTERVAL = 1.0

    def __init__(
        self,
        ccai_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_attempts: int | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = DEFAULT_MAX_BACKOFF,
    ) -> None:
        super().__init__()
        for name, value in (
            ("timeout", timeout),
            ("connect_timeout", connect_timeout),
            ("max_attempts", max_attempts),
            ("backoff_initial", backoff_initial),
            ("backoff_max", backoff_max),
        ):
            problem = hook_argument_problem(name, value)
            if problem:
                raise CcaiInputError(f"CloudContactHook argument {name}: {problem}")
        self.ccai_conn_id = ccai_conn_id
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max

    # -- connection -------------------------------------------------------------------------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (Airflow 2.11 and 3.1; 3.2+ reads ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        from airflow_provider_ccai.get_provider_info import CONN_FIELDS

        def label(name: str) -> Any:
            return lazy_gettext(CONN_FIELDS[name]["label"])

        def whole_number(name: str) -> IntegerField:
            schema = CONN_FIELDS[name]["schema"]
            return IntegerField(
                label(name),
                validators=[Optional(), NumberRange(min=schema["minimum"], max=schema["maximum"])],
                widget=BS3TextFieldWidget(),
                description=CONN_FIELDS[name]["description"],
            )

        return {
            "files_url": StringField(
                label("files_url"), widget=BS3TextFieldWidget(), description=CONN_FIELDS["files_url"]["description"]
            ),
            **{name: whole_number(name) for name in ("timeout", "connect_timeout", "max_attempts")},
        }

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel, hide and give placeholders to the standard connection fields."""
        from airflow_provider_ccai.get_provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @cached_property
    def settings(self) -> CcaiSettings:
        """Read and validate the connection once; the API key is registered with the secrets masker."""
        try:
            conn = self.get_connection(self.ccai_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        return self._parse_settings(conn, conn.extra_dejson)

    async def aget_settings(self) -> CcaiSettings:
        """
        Async twin of :attr:`settings` for triggers: looks the connection up without blocking the loop.

        The key is not registered with the masker here: a synchronous supervisor call from the event loop
        could deadlock, and Airflow already masks the password of a connection it hands out.
        """
        try:
            conn, extra = await _async_connection_and_extra(self.ccai_conn_id)
        except AirflowNotFoundException:
            raise self._missing_connection() from None
        return self._parse_settings(conn, extra, register_key=False)

    async def _aload_settings(self) -> CcaiSettings:
        """Fill :attr:`settings` once, looking the connection up without blocking the event loop."""
        if "settings" not in self.__dict__:
            self.settings = await self.aget_settings()
        return self.settings

    def _missing_connection(self) -> CcaiConnectionNotFoundError:
        return CcaiConnectionNotFoundError(
            f"Connection {self.ccai_conn_id!r} is not defined, or the secrets backend holding it could not be "
            f"reached: create a 'ccai' connection (UI, AIRFLOW_CONN_{self.ccai_conn_id.upper()} or a secrets "
            "backend)."
        )

    def _parse_settings(self, conn: Any, extra: Any, *, register_key: bool = True) -> CcaiSettings:
        api_key = (conn.password or "").strip()
        if api_key and register_key:
            mask_secret(api_key)
        client_id = str(conn.login or "").strip()
        name = self.ccai_conn_id
        if not isinstance(extra, dict):  # e.g. a JSON list typed into the Extra field
            raise CcaiConnectionError(
                f"Connection {name!r}: 'extra' must be a JSON object (files_url, timeout, ...), "
                f"got a {type(extra).__name__}."
            )
        if not client_id:
            raise CcaiConnectionError(f"Connection {name!r} has no client id: set its 'login' (Client ID) field.")
        if not (client_id.isascii() and client_id.isdigit()):  # isdigit() alone passes "١٢٣" and "²"
            raise CcaiConnectionError(f"Connection {name!r}: 'login' (Client ID) must be the numeric CCAI client id.")
        if not api_key:
            raise CcaiConnectionError(f"Connection {name!r} has no API key: set its 'password' (API Key) field.")
        if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
            raise CcaiConnectionError(
                f"Connection {name!r}: 'password' (API Key) holds a space, a control character or a non-ASCII "
                "character (a zero-width space or a curly quote pasted with it?), which no HTTP header can carry; "
                "paste the key again."
            )
        return CcaiSettings(
            client_id=client_id,
            api_key=api_key,
            api_url=self._base_url(conn.host, DEFAULT_API_URL, "host"),
            files_url=self._base_url(extra.get("files_url"), DEFAULT_FILES_URL, "files_url"),
            connect_timeout=self._number(
                self.connect_timeout, extra.get("connect_timeout"), DEFAULT_CONNECT_TIMEOUT, "connect_timeout"
            ),
            read_timeout=self._number(self.timeout, extra.get("timeout"), DEFAULT_READ_TIMEOUT, "timeout"),
            max_attempts=int(
                self._number(
                    self.max_attempts, extra.get("max_attempts"), DEFAULT_MAX_ATTEMPTS, "max_attempts", whole=True
                )
            ),
        )

    def _base_url(self, value: Any, default: str, field: str) -> str:
        """
        Return the connection's base URL for ``field``, or fail naming it before any request.

        Checked here rather than left to the HTTP client, so a URL that cannot be requested (no host, a port
        that is not a number, a space, an unclosed ``[``) fails without retries on the sync calls and on the
        sensor trigger's async stats call alike.
        """
        if value is not None and not isinstance(value, str):
            raise CcaiConnectionError(
                f"Connection {self.ccai_conn_id!r}: {field} must be an http(s) URL, got a {type(value).__name__}."
            )
        url = (value or "").strip().rstrip("/") or default
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port that is not a number or out of range, an unclosed IPv6 bracket
            valid = False
        if not valid or any(char.isspace() for char in url):
            raise CcaiConnectionError(
                f"Connection {self.ccai_conn_id!r}: {field} must be an http(s) URL, got {strip_query(url)!r}."
            )
        return url

    def _number(self, argument: float | None, extra: Any, default: float, field: str, *, whole: bool = False) -> float:
        """Return the hook argument (checked in ``__init__``), else the connection extra ``field``, else ``default``."""
        if argument is not None:
            return float(argument)
        if extra in (None, ""):
            return default
        try:  # JSON true is no number of seconds, though float(True) is 1.0
            number = math.nan if isinstance(extra, bool) else float(extra)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or not 0 < number <= LARGEST[field] or (whole and not number.is_integer()):
            kind = f"positive {'whole ' if whole else ''}number of at most {LARGEST[field]}"
            raise CcaiConnectionError(f"Connection {self.ccai_conn_id!r}: {field} must be a {kind}, got {extra!r}.")
        return number

    @cached_property
    def session(self) -> requests.Session:
        """The hook's single HTTP session; the bearer header is added per request, never to the PUT."""
        session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": "airflow-provider-ccai"})
        return session

    def get_conn(self) -> requests.Session:
        """Return the hook's ``requests.Session``."""
        return self.session

    def close(self) -> None:
        """Close the hook's HTTP session and its pooled connections, if it opened one."""
        session = vars(self).pop("session", None)
        if session is not None:
            session.close()

    @property
    def client_id(self) -> str:
        """The connection's numeric CCAI client id."""
        return self.settings.client_id

    def file_key(self, file_name: str) -> str:
        """
        Return the CCAI file key under which ``file_name`` is stored.

        :param file_name: name given to the signed-URL request.
        """
        return f"{self.client_id}/campaign/{file_name}"

    # -- transport --------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        call: str,
        *,
        authorised: bool = True,
        private_values: Callable[[], tuple[str, ...]] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """
        Send one request; turn every failure into a :class:`CcaiApiError` without secrets in it.

        ``private_values`` gives, only when the answer is an error, more values to keep out of its excerpt
        (recipients' names, which CCAI may echo back).
        """
        settings = self.settings
        failure: CcaiApiError | None = None
        try:
            response = self.session.request(
                method,
                url,
                auth=_BearerAuth(settings.api_key) if authorised else _NoAuth(),
                timeout=(settings.connect_timeout, settings.read_timeout),
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as error:
            failure = _failure_without_response(call, error, settings.read_timeout)
        if failure is not None:  # raised outside the except block: no __context__ keeps requests' text (the URL)
            raise failure
        failed = not 200 <= response.status_code < 300
        _raise_for_status(
            call,
            response.status_code,
            response.text,
            response.headers,
            settings.api_key,
            extra_secrets=query_values(url),
            names=private_values() if private_values is not None and failed else (),
            credentials_used=authorised,
        )
        return response

    def _with_retries(self, action: Callable[[], T], retry_if: Callable[[BaseException], bool]) -> T:
        """Run ``action`` with the hook's retry policy for failures that ``retry_if`` accepts."""
        return tenacity.Retrying(**self._retry_policy(retry_if))(action)

    def _retry_policy(self, retry_if: Callable[[BaseException], bool]) -> dict[str, Any]:
        """The keyword arguments of ``tenacity.Retrying``/``AsyncRetrying`` for the hook's settings."""
        return {
            "stop": tenacity.stop_after_attempt(self.settings.max_attempts),
            "wait": lambda state: _wait_for(state, self.backoff_initial, self.backoff_max),
            "retry": tenacity.retry_if_exception(retry_if),
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        self.log.warning(
            "%s; attempt %d of %d, retrying in %.1f s",
            error,
            retry_state.attempt_number,
            self.settings.max_attempts,
            retry_state.next_action.sleep if retry_state.next_action else 0.0,
        )

    def _call_safe(
        self,
        method: str,
        url: str,
        call: str,
        *,
        decode_json: bool = False,
        done_on_repeat: frozenset[int] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        """
        Send a call that is safe to repeat (a read, or a write keyed by name), retrying transient failures.

        A dropped connection, a read timeout or a malformed JSON body count as transient here.
        Returns the decoded JSON when ``decode_json`` is set, else the response; ``None`` when a repeat
        got a status in ``done_on_repeat`` after an earlier attempt that may have reached the server (lost
        answer, 5xx), which says that attempt took effect (a repeated DELETE finds nothing to delete).
        """
        may_have_acted = False  # whether an earlier attempt may have reached the server

        def attempt() -> Any:
            nonlocal may_have_acted
            try:
                response = self._send(method, url, call, **kwargs)
            except CcaiAmbiguousResultError as error:
                may_have_acted = True
                raise _as_safe_call_failure(error) from None
            except CcaiTransientError as error:
                may_have_acted = may_have_acted or not _never_sent(error)
                raise
            except CcaiRejectedError as error:
                if may_have_acted and error.status in done_on_repeat:
                    return None
                raise
            return _json_body(response, call, CcaiTransientError) if decode_json else response

        return self._with_retries(attempt, _is_transient)

    # -- files ------------------------------------------------------------------------------------

    def _request_upload_url(self, file_name: str, file_type: str, public: bool = True) -> str:
        """
        Ask the files API for a signed URL to PUT ``file_name`` to; return it (never log it).

        Private because the URL is a credential: its signature is registered with the secrets masker here.

        :param file_name: name of the file in CCAI storage.
        :param file_type: MIME type the URL is signed for.
        :param public: whether the stored file is publicly readable (MMS pictures must be).
        """
        call = "POST /upload/url"
        body = {
            "fileName": file_name,
            "fileType": file_type,
            "fileBasePath": f"{self.client_id}/campaign",
            "publicFile": public,
        }

        data = self._call_safe("POST", self.settings.files_url + "/upload/url", call, decode_json=True, json=body)
        signed_url = data.get("signedS3Url") if isinstance(data, dict) else None
        if not isinstance(signed_url, str) or not signed_url.startswith(("http://", "https://")):
            raise CcaiApiError(call, 200, "response has no signedS3Url")
        hide_signed_urls_in_http_logs()
        for value in signing_secrets(signed_url):  # mask them in Airflow's logs too
            mask_secret(value)
        return signed_url

    def _put_to_signed_url(self, signed_url: str, content: bytes, file_type: str) -> None:
        """
        PUT ``content`` to a signed URL with ``Content-Type: file_type`` and no ``Authorization`` header.

        :param signed_url: URL from :meth:`_request_upload_url`.
        :param content: the file's bytes.
        :param file_type: the MIME type the URL was signed for.
        """
        call = f"PUT {strip_query(signed_url)}"
        self._call_safe("PUT", signed_url, call, authorised=False, data=content, headers={"Content-Type": file_type})

    def upload_file(self, content: bytes, file_name: str, file_type: str, public: bool = True) -> str:
        """
        Store ``content`` as ``file_name`` and return its file key, once CCAI says it stores that key.

        A PUT refused because the signed URL expired gets one fresh URL and one more try. The stored-URL
        check afterwards makes a key CCAI does not know fail here, not send an MMS without its picture.

        :param content: the file's bytes.
        :param file_name: name in CCAI storage.
        :param file_type: MIME type.
        :param public: whether the stored file is publicly readable.
        """
        signed_url = self._request_upload_url(file_name, file_type, public)
        try:
            self._put_to_signed_url(signed_url, content, file_type)
        except CcaiRejectedError as error:
            # 403 for the URL's own expiry; 400 ExpiredToken for the temporary credentials that signed it
            if error.status not in (400, 403) or "expired" not in error.detail.lower():
                raise
            self.log.warning("Signed upload URL expired; requesting a fresh one")
            self._put_to_signed_url(self._request_upload_url(file_name, file_type, public), content, file_type)
        file_key = self.file_key(file_name)
        if first_found(lambda: self.is_file_stored(file_key), self.STORED_CHECK_ATTEMPTS, self.STORED_CHECK_INTERVAL):
            return file_key
        raise CcaiApiError(
            f"GET /clients/{self.client_id}/storedUrl",
            200,
            f"{file_key} is not stored after the upload; a campaign with it would have no picture",
        )

    def is_file_stored(self, file_key: str) -> bool:
        """
        Return whether CCAI already stores ``file_key`` (``GET /clients/{id}/storedUrl``).

        :param file_key: ``<client id>/campaign/<file name>``.
        """
        call = f"GET /clients/{self.client_id}/storedUrl"
        data = self._call_safe(
            "GET",
            f"{self.settings.api_url}/clients/{self.client_id}/storedUrl",
            call,
            decode_json=True,
            params={"fileKey": file_key},
        )
        return bool(isinstance(data, dict) and data.get("storedUrl"))

    # -- campaigns --------------------------------------------------------------------------------

    def create_campaign(self, payload: dict[str, Any] | bytes) -> dict[str, Any]:
        """
        Create (and send, or schedule) a campaign; return CCAI's response.

        The request is retried only when it provably never reached the server (connect failure). Anything
        else that leaves the outcome unknown raises :class:`CcaiAmbiguousResultError`, so the caller resolves
        it by looking, never by re-sending: a 429 too, as CCAI documents no rate limit, and so nothing about
        what a 429 from something in front of it means.

        :param payload: the ``campaigns/direct`` body (``accounts``, ``message``, ``title``, ...), as a
            dict or already serialised to JSON bytes.
        """
        call = f"POST /clients/{self.client_id}/campaigns/direct"
        url = f"{self.settings.api_url}/clients/{self.client_id}/campaigns/direct"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"ForceNewCampaign": "true", "Content-Type": "application/json"}
        try:
            response = self._with_retries(
                lambda: self._send(
                    "POST", url, call, data=body, headers=headers, private_values=lambda: _recipient_values(body)
                ),
                _never_reached,
            )
        except CcaiTransientError as error:
            if _never_reached(error):
                raise
            # A 429 or 5xx came from a server that got the request: the campaign may exist.
            raise CcaiAmbiguousResultError(call, error.status, error.detail) from None
        data = _json_body(response, call, CcaiAmbiguousResultError)
        if not isinstance(data, dict) or type(data.get("id")) is not int:  # JSON true is no id
            raise CcaiAmbiguousResultError(call, response.status_code, "response has no campaign id")
        return data

    async def acreate_campaign(self, payload: dict[str, Any] | bytes) -> dict[str, Any]:
        """
        Async entry to :meth:`create_campaign`, for callbacks that run in the triggerer (Deadline Alerts).

        The connection is read without blocking the event loop; the request itself is the synchronous
        :meth:`create_campaign`, run in a worker thread, so the never-re-send rule is the same code.

        :param payload: the ``campaigns/direct`` body, as for :meth:`create_campaign`.
        """
        import asyncio

        await self._aload_settings()
        return await asyncio.to_thread(self.create_campaign, payload)

    def list_campaigns(self) -> list[dict[str, Any]]:
        """Return the client's campaigns as CCAI lists them (newest first)."""
        call = f"GET /clients/{self.client_id}/campaigns"
        data = self._call_safe(
            "GET", f"{self.settings.api_url}/clients/{self.client_id}/campaigns", call, decode_json=True
        )
        if isinstance(data, dict) and isinstance(data.get("content"), list):  # a paged shape
            if not _whole_page(data):
                # a campaign on a later page would go unseen, and a lookup that misses one sends again
                raise CcaiRejectedError(
                    call, 200, "the campaign list came back paged, and not as one page that holds it all"
                )
            data = data["content"]
        if not isinstance(data, list):  # never read as "no campaigns": that could mean sending again
            raise CcaiRejectedError(call, 200, f"expected a list of campaigns, got {type(data).__name__}")
        return [item for item in data if isinstance(item, dict)]

    def find_campaigns(self, *, title: str, message: str, created_after: datetime) -> list[dict[str, Any]]:
        """
        Return the campaigns with this title and message created at or after ``created_after``, newest first.

        A campaign whose creation time is unknown (:meth:`created_at` is ``None``) is included, last: it
        might be the recent one, and missing it could mean texting everyone twice. For the same reason a
        listing without a ``message`` (or with ``null``) matches on the title, and a ``createdDate`` without
        an offset, read as UTC, counts as up to 12 hours later (it may be a server's local time behind UTC).
        A match without an integer ``id`` fails (:class:`CcaiRejectedError`): it cannot be returned.

        :param title: campaign title.
        :param message: campaign message template.
        :param created_after: timezone-aware lower bound for ``createdDate``.
        """
        matches: list[tuple[datetime, dict[str, Any]]] = []
        for campaign in self.list_campaigns():
            listed_message = campaign.get("message")
            if campaign.get("title") != title or (listed_message is not None and listed_message != message):
                continue
            if type(campaign.get("id")) is not int:
                # it may be the campaign a lost answer created; unable to name it, never send again
                raise CcaiRejectedError(
                    f"GET /clients/{self.client_id}/campaigns",
                    200,
                    f"a campaign titled {title!r} is listed without an integer id",
                )
            listed = _listed_created_date(campaign)
            if listed is None:
                matches.append((_UNKNOWN_TIME, campaign))
                continue
            created = listed if listed.tzinfo else listed.replace(tzinfo=timezone.utc)
            if created + (timedelta(0) if listed.tzinfo else LOCAL_TIME_ALLOWANCE) >= created_after:
                matches.append((created, campaign))
        matches.sort(key=lambda match: match[0], reverse=True)
        return [campaign for _, campaign in matches]

    @staticmethod
    def created_at(campaign: Mapping[str, Any]) -> datetime | None:
        """
        Return a listed campaign's ``createdDate`` as an aware datetime (no offset means UTC), or ``None``.

        A date without a time of day is ``None`` too: read as midnight, it would place a campaign created
        that day before the lookup window.

        :param campaign: a campaign as :meth:`list_campaigns` returns it.
        """
        parsed = _listed_created_date(campaign)
        if parsed is None:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    def get_campaign_stats(self, campaign_id: int) -> dict[str, int]:
        """
        Return ``{errorCount, pendingCount, sendingCount, sentCount, totalCount}`` for a campaign.

        :param campaign_id: campaign id returned at creation.
        """
        call, url = self._stats_endpoint(campaign_id)
        return _stats(self._call_safe("GET", url, call, decode_json=True), call)

    def _stats_endpoint(self, campaign_id: int) -> tuple[str, str]:
        """Return the stats call's name for messages and its URL."""
        path = f"/v2/messages/campaign/{int(campaign_id)}/stats"
        return f"GET {path}", self.settings.api_url + path

    async def aget_campaign_stats(self, campaign_id: int) -> dict[str, int]:
        """
        Async twin of :meth:`get_campaign_stats` (``httpx``), retried the same way; for triggers.

        :param campaign_id: campaign id returned at creation.
        """
        import asyncio

        import httpx

        settings = await self._aload_settings()
        call, url = self._stats_endpoint(campaign_id)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        # The first call reads the CA bundle: not on the loop.
        verify = await asyncio.to_thread(_verifying_ssl_context, _ca_bundle())

        async def attempt() -> Any:
            failure: CcaiApiError | None = None
            try:
                async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=verify) as client:
                    response = await client.get(url, headers={"Authorization": f"Bearer {settings.api_key}"})
            except httpx.RequestError as error:  # a transport error, or a body that cannot be decoded (bad gzip)
                if _caused_by(error, ssl.SSLCertVerificationError):
                    failure = CcaiRejectedError(call, None, _TLS_VERIFY_FAILED)
                else:
                    failure = CcaiTransientError(call, None, type(error).__name__)
            if failure is not None:  # raised outside the except block: httpx's error holds the request and its key
                raise failure
            try:
                _raise_for_status(call, response.status_code, response.text, response.headers, settings.api_key)
            except CcaiAmbiguousResultError as error:
                raise _as_safe_call_failure(error) from None
            return _json_body(response, call, CcaiTransientError)

        retrying = tenacity.AsyncRetrying(**self._retry_policy(_is_transient))
        return _stats(await retrying(attempt), call)

    def cancel_campaign(self, campaign_id: int) -> None:
        """
        Cancel (delete) a scheduled campaign.

        A 404 fails (no such campaign), unless it answers a repeat after an attempt that may have reached
        CCAI (lost answer, 5xx): then that attempt deleted it, and the cancel counts as done.

        :param campaign_id: campaign id returned at creation.
        """
        path = f"/campaigns/{int(campaign_id)}"
        call, url = f"DELETE {path}", self.settings.api_url + path
        self._call_safe("DELETE", url, call, done_on_repeat=frozenset({404}))

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection with one read-only call (a stored-file lookup), not retried; never raises.

        One attempt, as the UI's Test button waits for it: it answers within the timeouts, not after the
        backoff of a retried call. The hook's other calls keep their retries.
        """
        try:
            settings = self.settings
            self.settings = replace(settings, max_attempts=1)
            try:
                self.is_file_stored(self.file_key("airflow-connection-test"))
            finally:
                self.settings = settings
        except (CcaiApiError, CcaiConnectionError, CcaiConnectionNotFoundError) as error:
            return False, str(error)
        except Exception as error:  # the UI shows the answer; an unforeseen error must not become a stack trace
            return False, f"{type(error).__name__}: {redact(str(error))}"
        return True, f"Connected to CCAI as client {self.client_id}."


def _listed_created_date(campaign: Mapping[str, Any]) -> datetime | None:
    """
    Return a listed campaign's ``createdDate`` as written (naive when it has no offset), or ``None`` when it is
    missing, unreadable or a date without a time of day (see :meth:`CloudContactHook.created_at`).
    """
    value = campaign.get("createdDate")
    if not isinstance(value, str) or not re.search(r"\d[Tt ]\d", value.strip()):
        return None
    try:
        return parse_iso_datetime(value)
    except ValueError:
        return None


def public_fields(response: dict[str, Any]) -> dict[str, Any]:
    """
    Return what of a campaign response may go to XCom: its top-level fields that hold a scalar (text, number,
    boolean or null), but key-like ones (``apiKey``, tokens, secrets) and recipient-like ones.

    CCAI's response is not fully documented, so what it may hold about recipients is dropped by shape as well
    as by name: every object and list (the ``client``, ``accounts``, any recipient list under another name), a
    field named like a recipient's (``phone``, ``firstName``, ``email``, ...) but the sender's, and phone-shaped
    text but ``senderPhone``. A URL keeps no query string (a signed URL's signature).

    :param response: a campaign as CCAI returned it.
    """
    cleaned: dict[str, Any] = {}
    for name, value in response.items():
        if isinstance(value, (dict, list)) or (name not in _FILE_KEY_FIELDS and _SECRET_NAME.search(name)):
            continue
        if not name.startswith("sender") and (_RECIPIENT_NAME.search(name) or phone_shaped(value)):
            continue
        cleaned[name] = strip_query(value) if isinstance(value, str) and "://" in value else value
    return cleaned


STATS_KEYS = ("errorCount", "pendingCount", "sendingCount", "sentCount", "totalCount")


def valid_stats(data: Any) -> dict[str, int] | None:
    """
    Return the campaign stats counts in ``data``, or ``None`` unless it holds each of ``STATS_KEYS`` as an int.

    :param data: a stats response body, or the stats of a trigger event.
    """
    if not isinstance(data, Mapping) or not all(type(data.get(key)) is int for key in STATS_KEYS):
        return None  # not a bool either: a JSON true is no count
    return {key: data[key] for key in STATS_KEYS}


def _stats(data: Any, call: str) -> dict[str, int]:
    stats = valid_stats(data)
    if stats is None:
        raise CcaiApiError(call, 200, "unexpected stats shape")
    return stats


async def _async_connection_and_extra(conn_id: str) -> tuple[Any, dict[str, Any]]:
    """
    Look a connection up and read its extra without a synchronous supervisor call on the event loop.

    common-compat 1.23 does both safely on every Airflow version. Older releases (the newest for Python
    3.10) call ``aget_connection``, which before Airflow 3.3.2 masks secrets with a synchronous supervisor
    call that can deadlock a triggerer's shared loop; with those, both are read in a worker thread.

    A connection the async lookup does not find is looked up once more in a worker thread: Airflow 3's
    ``dag.test()`` (``airflow dags test``) runs triggers in its own process, where the async lookup misses
    connections stored in the metadata database and the synchronous one finds them. A connection that
    truly does not exist raises ``AirflowNotFoundException`` from both.
    """
    from asgiref.sync import sync_to_async

    def read() -> tuple[Any, dict[str, Any]]:
        conn = BaseHook.get_connection(conn_id)
        return conn, conn.extra_dejson

    try:
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
    except ImportError:
        return await sync_to_async(read)()
    try:
        conn = await get_async_connection(conn_id)
    except AirflowNotFoundException:
        return await sync_to_async(read)()
    return conn, await get_async_extra_dejson(conn)


def _as_safe_call_failure(error: CcaiAmbiguousResultError) -> CcaiApiError:
    """For a call that is safe to repeat, an unknown outcome is transient, unless a status no retry changes said so."""
    if error.status is not None:  # 501, 505, ...: the other 5xx are transient already
        return CcaiRejectedError(error.call, error.status, error.detail)
    return CcaiTransientError(error.call, error.status, error.detail)


def _json_body(response: Any, call: str, failure: type[CcaiApiError]) -> Any:
    """
    Return the decoded JSON body, or raise ``failure`` naming ``call``.

    The decode error is dropped before raising: it keeps the whole body (``JSONDecodeError.doc``).
    """
    try:
        return response.json()
    except ValueError:
        pass
    raise failure(call, response.status_code, "response is not valid JSON")


_TLS_VERIFY_FAILED = "TLS certificate verification failed (request not sent); check the connection's URLs"


class _BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <key>``, given explicitly so that a ``~/.netrc`` entry never replaces it."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request


class _NoAuth(requests.auth.AuthBase):
    """No credentials at all (the signed-URL PUT), explicit so that requests adds no ``~/.netrc`` ones."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error`` or anything in its cause/context chain is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _failure_without_response(call: str, error: requests.RequestException, read_timeout: float) -> CcaiApiError:
    """Classify a request that got no response: never sent (retryable), unbuildable (final) or outcome unknown."""
    if isinstance(error, requests.ConnectTimeout):
        return CcaiTransientError(call, None, "connect timeout (request not sent)")
    if isinstance(error, requests.ReadTimeout):
        return CcaiAmbiguousResultError(call, None, f"no response within {read_timeout:g} s")
    if isinstance(error, requests.ConnectionError) and _connection_refused(error):
        return CcaiTransientError(call, None, "connection refused (request not sent)")
    if isinstance(error, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in _cause_text(error):
        return CcaiRejectedError(call, None, _TLS_VERIFY_FAILED)
    if isinstance(error, _UNBUILDABLE):
        return CcaiRejectedError(
            call, None, f"{type(error).__name__}: the request could not be built; check the connection's URLs and key"
        )
    if isinstance(error, requests.ConnectionError):
        return CcaiAmbiguousResultError(call, None, "connection dropped before a response arrived")
    return CcaiAmbiguousResultError(call, None, f"{type(error).__name__} before a complete response arrived")


def _cause_text(error: requests.RequestException) -> str:
    """urllib3's description of what went wrong (``MaxRetryError(... Caused by ...)``), for classifying only."""
    return repr(error.args[0]) if error.args else ""


def _connection_refused(error: requests.ConnectionError) -> bool:
    text = _cause_text(error)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text


def _raise_for_status(
    call: str,
    status: int,
    text: str,
    headers: Mapping[str, str],
    api_key: str,
    *,
    extra_secrets: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    credentials_used: bool = True,
) -> None:
    """Raise the :class:`CcaiApiError` subclass that says what a non-2xx status means for retrying."""
    if 200 <= status < 300:
        return
    hint = _STATUS_HINTS.get(status, "") if credentials_used else ""  # a signed-URL PUT carries no key
    detail = hint + redact(text, (api_key, *extra_secrets), names=names)
    transient = status in (408, 429) or (500 <= status < 600 and status not in FINAL_SERVER_ERRORS)
    if transient or (not credentials_used and _storage_timed_out(status, text)):
        raise CcaiTransientError(call, status, detail, _retry_after(headers))
    if 300 <= status < 400:  # redirects are not followed: a key must not travel to another host
        raise CcaiRejectedError(call, status, "redirected; check the connection's URLs (https, path)")
    if 400 <= status < 500:
        raise CcaiRejectedError(call, status, detail)
    raise CcaiAmbiguousResultError(call, status, detail)  # 501, 505, a status beyond 599: the server got it


def _ca_bundle() -> str | None:
    """Return the CA bundle ``requests`` verifies with (``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``), if set."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


@cache
def _verifying_ssl_context(bundle: str | None) -> ssl.SSLContext:
    """
    Return the SSL context of the async calls, trusting what the sync calls (``requests``) trust, built once.

    :param bundle: a CA file or directory (:func:`_ca_bundle`, e.g. a company CA), or ``None`` for httpx's
        default (certifi's bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``). Building the context reads a CA
        file from disk, which would block the triggerer's event loop on every poll. (OpenSSL reads a CA
        directory's files when it verifies a handshake, as it does for ``requests``; they are small and cached.)
    """
    if bundle is None:
        import httpx

        return httpx.create_ssl_context()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def _whole_page(page: Mapping[str, Any]) -> bool:
    """
    Whether a paged list (``{"content": [...], ...}``, Spring's shapes) says it holds every item.

    Its ``last``, ``totalPages`` and ``totalElements`` (at the top or under ``page``) must not say there is
    more, and at least one of them must say there is not: a page that tells neither may be the first of many.
    """
    details = page.get("page")
    if not isinstance(details, Mapping):
        details = {}
    pages = [value for value in (page.get("totalPages"), details.get("totalPages")) if isinstance(value, int)]
    totals = [value for value in (page.get("totalElements"), details.get("totalElements")) if isinstance(value, int)]
    held = len(page["content"])
    if page.get("last") is False or any(count > 1 for count in pages) or any(count > held for count in totals):
        return False
    return page.get("last") is True or bool(pages) or bool(totals)


def _storage_timed_out(status: int, text: str) -> bool:
    """Whether object storage gave up waiting for a signed-URL PUT's body with a 400 (S3's ``RequestTimeout``)."""
    return status == 400 and "<Code>RequestTimeout</Code>" in text


def _recipient_values(body: bytes) -> tuple[str, ...]:
    """
    Return what a ``campaigns/direct`` body says about its recipients, longest first (for redaction): their
    first and last names, the text values of their ``data`` (``${variables}``: an e-mail address, a customer
    id) and their ``messageData``.

    A value without a letter (``512``, an id some CRMs put in a name) is hidden only as a whole JSON string
    (``"94107"``, quotes included): replacing it anywhere could cut an echoed phone number into pieces that
    the phone pattern no longer finds.
    """
    try:
        accounts = json.loads(body).get("accounts")
    except (ValueError, AttributeError):
        return ()
    if not isinstance(accounts, list):
        return ()
    anywhere: set[str] = set()
    whole: set[str] = set()
    for account in accounts:
        if isinstance(account, dict):
            free, quoted = _account_texts(account)
            anywhere.update(free)
            whole.update(quoted)
    values = {form for text in anywhere for form in _json_forms(text)} | {
        form for text in whole for form in (json.dumps(text), json.dumps(text, ensure_ascii=False))
    }
    return tuple(sorted(values, key=len, reverse=True))


def _account_texts(account: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """
    Return an account's texts to hide wherever they appear, and those to hide only as whole JSON strings.

    Hidden anywhere: its names with a letter, and its ``messageData`` and ``data`` text values of 4 characters or
    more with a letter, other than ``true``/``false``/``null``. Text values without a letter are hidden only as
    whole JSON strings (``"94107"``): a number hidden anywhere could cut an echoed phone number into pieces the
    phone pattern no longer finds. Shorter codes with a letter (``CA``, ``en``) are left: they occur inside
    ordinary words and JSON, and hiding them would leave an error's excerpt unreadable.
    """
    data = account.get("data")
    extras = [account.get("messageData"), *(data.values() if isinstance(data, Mapping) else ())]
    names = [account.get("firstName"), account.get("lastName")]
    anywhere: list[str] = []
    whole: list[str] = []
    for value, shortest in [*((name, 2) for name in names), *((extra, 4) for extra in extras)]:
        text = value.strip() if isinstance(value, str) else ""
        if len(text) >= shortest and any(map(str.isalpha, text)) and text.lower() not in ("true", "false", "null"):
            anywhere.append(text)
        elif text and not any(map(str.isalpha, text)):
            whole.append(text)
    return anywhere, whole


def _json_forms(text: str) -> set[str]:
    """Return ``text`` as it may appear in a JSON body: as is, with quotes escaped, with ``\\u00e9``-style escapes."""
    escaped = json.dumps(text)[1:-1]
    upper_hex = re.sub(r"\\u[0-9a-f]{4}", lambda match: "\\u" + match.group()[2:].upper(), escaped)
    return {text, json.dumps(text, ensure_ascii=False)[1:-1], escaped, upper_hex}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (a number or an HTTP date), or ``None``."""
    value = headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
