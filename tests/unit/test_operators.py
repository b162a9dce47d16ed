"""Unit tests of the upload and campaign operators: ``execute`` called directly, HTTP mocked, no database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import pytest
import requests
import responses

from airflow_provider_ccai.exceptions import (
    CcaiAmbiguousMatchError,
    CcaiCampaignFillingError,
    CcaiEarlierTryUnknownError,
    CcaiInputError,
    CcaiUnlistedCampaignError,
)
from airflow_provider_ccai.hooks.ccai import CloudContactHook
from airflow_provider_ccai.operators.ccai import (
    CcaiCreateCampaignOperator,
    CcaiUploadFileOperator,
    RenderedRecipients,
    RenderedUri,
)
from airflow_provider_ccai.utils import once
from airflow_provider_ccai.utils.images import MAX_MMS_BYTES
from airflow_provider_ccai.version_compat import AirflowException, AirflowFailException
from tests.conftest import CLIENT_ID, UNIT_API_URL, UNIT_FILES_URL
from tests.images import GIF, JPEG, PNG
from tests.unit import CapturedLogs, capture_logs, frozen_clock, replace_memory_objects_when_read

try:
    from airflow.sdk import ObjectStoragePath
except ImportError:  # Airflow 2.11
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]

API_KEY = "unit-test-api-key-XYZ"
CREATE_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/campaigns/direct"
LIST_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/campaigns"
STORED_URL = f"{UNIT_API_URL}/clients/{CLIENT_ID}/storedUrl"
UPLOAD_URL = f"{UNIT_FILES_URL}/upload/url"
SIGNED_URL = f"https://ccai-bucket.s3.test/{CLIENT_ID}/campaign/x?X-Amz-Signature={'a' * 64}"


PHONES = ("+15550001111", "+15550002222", "+15550003333")
ACCOUNTS = [
    {"firstName": "Ann", "lastName": "Lee", "phone": PHONES[0]},
    {
        "first_name": "Bob",
        "last_name": "Ray",
        "phone": PHONES[1],
        "data": {"city": "Miami", "offer": "20% off"},
        "message_data": "ref-1",
    },
    {"firstName": "Cy", "lastName": "Fox", "phone": PHONES[2], "messageData": '{"trackingId":"abc"}'},
]
WIRE_ACCOUNTS = [
    {"firstName": "Ann", "lastName": "Lee", "phone": PHONES[0]},
    {
        "firstName": "Bob",
        "lastName": "Ray",
        "phone": PHONES[1],
        "data": {"city": "Miami", "offer": "20% off"},
        "messageData": "ref-1",
    },
    {"firstName": "Cy", "lastName": "Fox", "phone": PHONES[2], "messageData": '{"trackingId":"abc"}'},
]
MESSAGE = "Hi ${firstName} ${lastName}, enjoy ${offer} in ${city}!"
TITLE = "Weekly offer"
NOW = datetime.now(timezone.utc)


# -- fixtures ---------------------------------------------------------------------------------------


def upload_answers(http: responses.RequestsMock) -> None:
    """Answer an upload of a new file: not stored, a signed URL, the PUT, then stored."""
    http.get(STORED_URL, json={"storedUrl": ""})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/stored"})


@pytest.fixture(autouse=True)
def no_sleep(mocker: Any) -> mock.MagicMock:
    mocker.patch.object(once, "LOOKUP_INTERVAL", 0)
    return mocker.patch("time.sleep")


@pytest.fixture(autouse=True)
def clock(mocker: Any) -> None:
    """The at-most-once code reads the time ``NOW``, so the windows it computes match the campaigns' dates."""
    mocker.patch.object(once, "datetime", frozen_clock(NOW))


@pytest.fixture
def context(mocker: Any) -> dict[str, Any]:
    return {"ti": mocker.MagicMock(try_number=1), "dag_run": mocker.MagicMock(start_date=NOW - timedelta(hours=1))}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    with capture_logs(caplog) as captured:
        yield captured


def calls(http: responses.RequestsMock, method: str, url: str | None = None) -> list[Any]:
    return [
        call
        for call in http.calls
        if call.request.method == method and (url is None or call.request.url.split("?")[0] == url)
    ]


def campaign_op(**overrides: Any) -> CcaiCreateCampaignOperator:
    arguments: dict[str, Any] = {"task_id": "campaign", "accounts": ACCOUNTS, "message": MESSAGE, "title": TITLE}
    arguments.update(overrides)
    return CcaiCreateCampaignOperator(**arguments)


def second_try(mocker: Any, **dag_run: Any) -> dict[str, Any]:
    """The context of a task's second try (Airflow 2.11-3.2: no task state store) in a run with ``dag_run``'s fields."""
    return {"ti": mocker.MagicMock(try_number=2), "dag_run": mocker.MagicMock(**dag_run)}


def listed(campaign_id: int, created: datetime, title: str = TITLE, message: str = MESSAGE) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "title": title,
        "message": message,
        "status": "SENT",
        "createdDate": created.isoformat().replace("+00:00", "Z"),
    }


def assert_no_phone(*texts: str) -> None:
    for text in texts:
        for phone in (*PHONES, "5550009999", "+15550009999", "15550001111"):
            assert phone not in text


class FakeTaskStateStore:
    """The Airflow 3.3 ``task_state_store`` interface the operator uses: ``get`` and ``set``."""

    def __init__(self, **values: Any) -> None:
        self.values = dict(values)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # what a real store keeps is JSON


# -- construction -----------------------------------------------------------------------------------


def test_construction_does_no_lookup_and_no_io(mocker: Any, tmp_path: Path, http: responses.RequestsMock) -> None:
    lookup = mocker.patch.object(CloudContactHook, "get_connection", side_effect=AssertionError("looked up"))
    stat = mocker.spy(os, "stat")
    missing = str(tmp_path / "not-there.png")
    upload = CcaiUploadFileOperator(task_id="upload", file_path=missing)
    campaign = campaign_op(accounts=str(tmp_path / "not-there.csv"), picture_file_key="999/campaign/a.png")
    assert upload.file_path == missing
    assert campaign.picture_file_key == "999/campaign/a.png"
    assert lookup.call_count == 0
    assert not [call for call in stat.call_args_list if "not-there" in str(call.args[0])]
    assert len(http.calls) == 0


def test_template_fields() -> None:
    assert tuple(CcaiUploadFileOperator.template_fields) == ("file_path", "file_name", "mime_type")
    assert tuple(CcaiCreateCampaignOperator.template_fields) == (
        "accounts",
        "message",
        "title",
        "picture_file_key",
        "sender_phone",
        "scheduled_timestamp",
        "scheduled_timezone",
    )
    assert tuple(CcaiUploadFileOperator.template_ext) == ()
    assert tuple(CcaiCreateCampaignOperator.template_ext) == ()


# -- CcaiUploadFileOperator -------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


BAD_UPLOADS = {
    "missing file": (lambda tmp: str(tmp / "nope.png"), {}, r"file_path: .* does not exist"),
    "directory": (lambda tmp: str(tmp), {}, r"file_path: .* is not a regular file"),
    "empty file": (lambda tmp: _write(tmp, "empty.png", b""), {}, r"file_path: .* is empty"),
    "over 1 MiB": (
        lambda tmp: _write(tmp, "big.png", PNG + bytes(MAX_MMS_BYTES + 1 - len(PNG))),
        {},
        r"file_path: .* is 1,048,577 bytes; the limit is 1,048,576 bytes",
    ),
    "text named .png": (
        lambda tmp: _write(tmp, "fake.png", b"hello, I am not a picture"),
        {},
        r"file_path: .* is not a JPEG, PNG or GIF",
    ),
    "pdf": (lambda tmp: _write(tmp, "a.png", b"%PDF-1.7 ..."), {}, r"file_path: .* is not a JPEG, PNG or GIF"),
    "PNG cut short": (lambda tmp: _write(tmp, "a.png", PNG[:-12]), {}, r"file_path: .* is a truncated or damaged"),
    "missing URI with a presigned query": (
        lambda tmp: (tmp / "nope.png").as_uri() + "?X-Amz-Signature=abc123secret",
        {},
        r"file_path: 'file://[^'?]*/nope.png' does not exist$",  # the query (a signature) is not shown
    ),
    "JPEG cut short": (lambda tmp: _write(tmp, "a.jpg", JPEG[:-2]), {}, r"file_path: .* is a truncated or damaged"),
    "GIF cut short": (lambda tmp: _write(tmp, "a.gif", GIF[:-1]), {}, r"file_path: .* is a truncated or damaged"),
    "mime_type contradicts PNG": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"mime_type": "image/jpeg"},
        r"mime_type: 'image/jpeg' does not match the file's content \(image/png\)",
    ),
    "mime_type contradicts GIF": (
        lambda tmp: _write(tmp, "a.gif", GIF),
        {"mime_type": "image/png"},
        r"mime_type: 'image/png' does not match",
    ),
    "unsupported mime_type": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"mime_type": "video/mp4"},
        r"mime_type: 'video/mp4' does not match",
    ),
    "file_name with slash": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "../other/a.png"},
        r"file_name: .* must be a plain file name without slashes",
    ),
    "file_name with backslash": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "dir\\a.png"},
        r"file_name: .* without slashes",
    ),
    "file_name with a space": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "summer sale.png"},
        r"file_name: 'summer sale.png' must not contain spaces",
    ),
    "file_name with a control character": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "offer\x00.png"},
        r"file_name: 'offer\\x00.png' must not contain spaces, control characters",
    ),
    "file_name not text": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": ["a.png"]},
        r"file_name: expected a string, got list",
    ),
    "file_name with a JPEG extension on a PNG": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "offer.jpg"},
        r"file_name: 'offer.jpg' must end in \.png \(the file is image/png\)",
    ),
    "file_name without an extension": (
        lambda tmp: _write(tmp, "a.gif", GIF),
        {"file_name": "offer"},
        r"file_name: 'offer' must end in \.gif",
    ),
    "file_name blank": (lambda tmp: _write(tmp, "a.png", PNG), {"file_name": "  "}, r"file_name: "),
    "file_name dot-dot": (lambda tmp: _write(tmp, "a.png", PNG), {"file_name": ".."}, r"file_name: "),
    "file_name with dot-dot inside": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "offer..png"},
        r"file_name: 'offer\.\.png' must be a plain file name without slashes or '\.\.'",
    ),
    **{
        f"file_name with {char!r}": (
            lambda tmp: _write(tmp, "a.png", PNG),
            {"file_name": f"50{char}off.png"},
            r"file_name: .* must not contain spaces, control characters or '#', '\?', '%'",
        )
        for char in "#?%"
    },
    "file_name that is another image's default name": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": hashlib.md5(GIF).hexdigest() + ".png"},
        r"file_name: '[0-9a-f]{32}\.png' is the default name of another image",
    ),
    "file_name that is another image's private default name": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": hashlib.md5(PNG).hexdigest() + "-private.png"},  # this image, but public
        r"file_name: .* is the default name of another image",
    ),
    "file_name making a key over 1024 bytes": (
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "x" * 1010 + ".png"},
        r"file_name: the file key '1234/campaign/<file_name>' is longer than 1024 bytes",
    ),
    "file_name of 604 characters making a key of 1218 bytes": (  # the limit counts UTF-8 bytes
        lambda tmp: _write(tmp, "a.png", PNG),
        {"file_name": "é" * 600 + ".png"},
        r"file_name: the file key '1234/campaign/<file_name>' is longer than 1024 bytes",
    ),
}


@pytest.mark.parametrize(("make_path", "arguments", "expected"), BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_upload_bad_input_fails_before_any_request(
    tmp_path: Path,
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    make_path: Any,
    arguments: dict[str, Any],
    expected: str,
) -> None:
    upload_answers(http)
    op = CcaiUploadFileOperator(task_id="upload", file_path=make_path(tmp_path), **arguments)
    with pytest.raises(CcaiInputError, match=expected) as raised:
        op.execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0


def test_upload_takes_a_file_name_whose_key_is_exactly_1024_bytes(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    upload_answers(http)
    key = f"{CLIENT_ID}/campaign/" + "x" * (1024 - len(f"{CLIENT_ID}/campaign/.png")) + ".png"
    op = CcaiUploadFileOperator(
        task_id="upload", file_path=_write(tmp_path, "a.png", PNG), file_name=key.rsplit("/", 1)[1]
    )

    assert op.execute(context) == key and len(key.encode()) == 1024


def test_upload_of_a_file_without_read_permission_fails_before_any_request(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], mocker: Any
) -> None:
    """Seen by ``open()``, not ``stat()`` (root reads any file, so the denial is simulated)."""
    upload_answers(http)
    mocker.patch("airflow_provider_ccai.utils.sources.open", side_effect=PermissionError(13, "Denied"), create=True)
    op = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a.png", PNG))
    with pytest.raises(CcaiInputError, match=r"^file_path: cannot read '.*a.png': permission denied$"):
        op.execute(context)
    assert len(http.calls) == 0


def test_upload_takes_an_object_storage_path_object(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], memory_fs: list[str | None]
) -> None:
    """A task may return an ObjectStoragePath (Airflow 3's is not os.PathLike); its connection id is kept."""
    image = ObjectStoragePath("s3://offers/week-48.png", conn_id="aws_marketing")
    image.write_bytes(PNG)
    upload_answers(http)

    key = CcaiUploadFileOperator(task_id="upload", file_path=image).execute(context)

    assert key == f"{CLIENT_ID}/campaign/{hashlib.md5(PNG).hexdigest()}.png"
    assert http.calls[2].request.body == PNG
    assert set(memory_fs) == {"aws_marketing"}


def test_upload_of_an_s3_uri_reads_it_through_file_conn_id(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], memory_fs: list[str | None]
) -> None:
    ObjectStoragePath("memory://offers/offer.png").write_bytes(PNG)  # s3:// is served from memory here
    memory_fs.clear()
    upload_answers(http)

    operator = CcaiUploadFileOperator(task_id="upload", file_path="s3://offers/offer.png", file_conn_id="aws_offers")

    assert operator.execute(context) == f"{CLIENT_ID}/campaign/{hashlib.md5(PNG).hexdigest()}.png"
    assert set(memory_fs) == {"aws_offers"}  # the filesystem was built for file_conn_id, and only for it
    assert calls(http, "PUT")[0].request.body == PNG


def test_upload_of_an_object_storage_path_that_is_no_image_names_its_uri(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], memory_fs: list[str | None]
) -> None:
    document = ObjectStoragePath("s3://offers/week-48.pdf", conn_id="aws_marketing")
    document.write_bytes(b"%PDF-1.7 not an image")

    with pytest.raises(CcaiInputError, match=r"^file_path: 's3://aws_marketing@offers/week-48\.pdf' is not a JPEG"):
        CcaiUploadFileOperator(task_id="upload", file_path=document).execute(context)
    assert len(http.calls) == 0


def test_upload_of_a_uri_that_does_not_parse_fails_without_retries(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], memory_fs: list[str | None]
) -> None:
    with pytest.raises(CcaiInputError, match=r"^file_path: 'memory://\[offers/a\.png' is not a valid URI"):
        CcaiUploadFileOperator(task_id="upload", file_path="memory://[offers/a.png").execute(context)
    assert len(http.calls) == 0


def test_upload_during_an_object_storage_outage_stays_retryable(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    memory_fs: list[str | None],
    mocker: Any,
) -> None:
    """A store that times out is not a missing file: the error propagates as is, so Airflow's retries apply."""
    from fsspec.implementations.memory import MemoryFileSystem

    ObjectStoragePath("memory://offers/offer.png").write_bytes(PNG)
    mocker.patch.object(MemoryFileSystem, "info", side_effect=TimeoutError("the store did not answer"))

    with pytest.raises(TimeoutError) as raised:
        CcaiUploadFileOperator(task_id="upload", file_path="memory://offers/offer.png").execute(context)
    assert not isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0


def test_a_presigned_uris_signature_is_masked_before_the_store_is_asked(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    memory_fs: list[str | None],
    mocker: Any,
) -> None:
    """A filesystem's error may quote the whole URI: Airflow's masker hides its signature and password in the log."""
    from fsspec.implementations.memory import MemoryFileSystem

    signature, password = "0123456789abcdef0123", "s3cr3t-pass"
    uri = f"memory://reader:{password}@offers/offer.png?X-Amz-Date=20261128T000000Z&X-Amz-Signature={signature}"
    masked = mocker.patch("airflow_provider_ccai.version_compat.mask_secret")
    mocker.patch.object(MemoryFileSystem, "info", side_effect=TimeoutError(f"no answer for {uri}"))

    with pytest.raises(TimeoutError):
        CcaiUploadFileOperator(task_id="upload", file_path=uri).execute(context)
    assert {call.args[0] for call in masked.call_args_list} == {signature, password}  # not the date
    assert len(http.calls) == 0


@pytest.mark.parametrize("replacement", [PNG + bytes(100), PNG[:-1] + b"\x00"], ids=["larger", "same size"])
def test_upload_of_an_object_replaced_while_read_sends_nothing_and_stays_retryable(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    memory_fs: list[str | None],
    mocker: Any,
    replacement: bytes,
) -> None:
    """
    A writer replaces the object between the size check and the read (a same-size one shows only in the
    object's version): the bytes read belong to neither version for certain; the next try reads the new one.
    """
    from airflow_provider_ccai.exceptions import CcaiSourceChangedError

    ObjectStoragePath("memory://offers/offer.png").write_bytes(PNG)
    read_normally = replace_memory_objects_when_read(mocker, replacement)
    operator = CcaiUploadFileOperator(task_id="upload", file_path="memory://offers/offer.png")
    with pytest.raises(CcaiSourceChangedError, match=r"^file_path: .* changed while it was read") as raised:
        operator.execute(context)
    assert not isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0

    read_normally()
    upload_answers(http)
    assert operator.execute(context) == f"{CLIENT_ID}/campaign/{hashlib.md5(replacement).hexdigest()}.png"


@pytest.mark.parametrize(
    "change", ["emptied", "removed", "grew", "rewritten, same size", "replaced, same size", "read short"]
)
def test_upload_of_an_image_rewritten_while_read_is_retried_not_refused(
    tmp_path: Path,
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    mocker: Any,
    change: str,
) -> None:
    """``cp new.png offer.png`` truncates the file in place first: a retry reads the finished file."""
    from airflow_provider_ccai.exceptions import CcaiSourceChangedError
    from airflow_provider_ccai.utils import sources

    path = Path(_write(tmp_path, "offer.png", PNG))
    open_source = sources.open_source

    def writer_starts_after_the_stat(*args: Any, **kwargs: Any) -> Any:
        opened = open_source(*args, **kwargs)
        same_size = PNG[:-1] + bytes([PNG[-1] ^ 1])
        if change == "emptied":
            path.write_bytes(b"")
        elif change == "removed":
            path.unlink()
        elif change == "grew":
            path.write_bytes(PNG + GIF)
        elif change == "rewritten, same size":  # same inode and size: only the modification time tells
            before = path.stat().st_mtime_ns
            path.write_bytes(same_size)
            os.utime(path, ns=(before + 10**9, before + 10**9))
        elif change == "replaced, same size":  # a new file moved over it, with the old one's times
            before = path.stat()
            replacement = tmp_path / "new.png"
            replacement.write_bytes(same_size)
            os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
            os.replace(replacement, path)
        else:  # the file is unchanged, but the read ended early (a network filesystem's hiccup)
            opened.handle.close()
            return opened._replace(handle=io.BytesIO(PNG[:-10]))
        return opened

    mocker.patch.object(sources, "open_source", side_effect=writer_starts_after_the_stat)
    upload_answers(http)
    with pytest.raises(
        CcaiSourceChangedError, match=r"^file_path: .* changed while it was read; a retry reads it again$"
    ) as raised:
        CcaiUploadFileOperator(task_id="upload", file_path=str(path)).execute(context)
    assert not isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0


def test_upload_file_of_exactly_the_limit_is_accepted(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    content = PNG + bytes(MAX_MMS_BYTES - len(PNG))
    upload_answers(http)
    key = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "max.png", content)).execute(context)
    assert key == f"{CLIENT_ID}/campaign/{hashlib.md5(content).hexdigest()}.png"
    assert calls(http, "PUT")[0].request.body == content


@pytest.mark.parametrize(
    ("content", "name", "mime_type", "ext"),
    [
        (PNG, "picture.bin", "image/png", "png"),
        (JPEG, "picture.png", "image/jpeg", "jpg"),
        (GIF, "picture.jpg", "image/gif", "gif"),
        (b"GIF87a" + GIF[6:], "old.gif", "image/gif", "gif"),
    ],
    ids=["png", "jpeg named .png", "gif named .jpg", "gif87a"],
)
def test_upload_detects_the_type_by_content(
    tmp_path: Path,
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    content: bytes,
    name: str,
    mime_type: str,
    ext: str,
) -> None:
    upload_answers(http)
    key = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, name, content)).execute(context)
    file_name = f"{hashlib.md5(content).hexdigest()}.{ext}"
    assert key == f"{CLIENT_ID}/campaign/{file_name}"
    (request_url,) = calls(http, "POST", UPLOAD_URL)
    assert json.loads(request_url.request.body)["fileName"] == file_name
    assert json.loads(request_url.request.body)["fileType"] == mime_type
    assert calls(http, "PUT")[0].request.headers["Content-Type"] == mime_type


@pytest.mark.parametrize(
    ("content", "mime_type"),
    [(JPEG, "image/jpg"), (JPEG, "image/jpeg"), (PNG, " IMAGE/PNG "), (GIF, "image/gif")],
)
def test_upload_accepts_a_matching_mime_type(
    tmp_path: Path,
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    content: bytes,
    mime_type: str,
) -> None:
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/x"})
    op = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a", content), mime_type=mime_type)
    assert op.execute(context).startswith(f"{CLIENT_ID}/campaign/")


def test_upload_skips_a_stored_file(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/1234/campaign/x.png"})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    md5 = hashlib.md5(PNG).hexdigest()
    key = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a.png", PNG)).execute(context)
    assert key == f"{CLIENT_ID}/campaign/{md5}.png"
    (stored,) = http.calls
    assert stored.request.method == "GET"
    assert stored.request.url == f"{STORED_URL}?fileKey={CLIENT_ID}%2Fcampaign%2F{md5}.png"


def test_upload_of_a_private_copy_has_its_own_name(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    """A file stored public must not stand in for a private one, nor the reverse: MMS pictures must be public."""
    upload_answers(http)
    md5 = hashlib.md5(PNG).hexdigest()
    op = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a.png", PNG), public=False)
    assert op.execute(context) == f"{CLIENT_ID}/campaign/{md5}-private.png"
    assert http.calls[0].request.url == f"{STORED_URL}?fileKey={CLIENT_ID}%2Fcampaign%2F{md5}-private.png"
    assert json.loads(http.calls[1].request.body)["fileName"] == f"{md5}-private.png"
    assert json.loads(http.calls[1].request.body)["publicFile"] is False


def test_upload_uploads_a_new_file(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    upload_answers(http)
    md5 = hashlib.md5(PNG).hexdigest()
    key = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a.png", PNG)).execute(context)
    assert key == f"{CLIENT_ID}/campaign/{md5}.png"
    assert [call.request.method for call in http.calls] == ["GET", "POST", "PUT", "GET"]
    assert http.calls[3].request.url == http.calls[0].request.url  # the key is stored now
    assert json.loads(http.calls[1].request.body) == {
        "fileName": f"{md5}.png",
        "fileType": "image/png",
        "fileBasePath": f"{CLIENT_ID}/campaign",
        "publicFile": True,
    }
    put = http.calls[2].request
    assert put.body == PNG
    assert put.headers["Content-Type"] == "image/png"
    assert "Authorization" not in put.headers


def test_rendered_file_path_hides_a_presigned_signature(
    tmp_path: Path,
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    mocker: Any,
) -> None:
    """The rendered-template view shows the URI without its query; the operator reads the URI whole."""
    presigned = "https://bucket.test/offers/spring.png?X-Amz-Signature=abc123secret#part"
    read = mocker.patch("airflow_provider_ccai.utils.sources.read_source", return_value=PNG)
    op = CcaiUploadFileOperator(task_id="upload", file_path="{{ params.image }}")
    op.render_template_fields({**context, "params": {"image": presigned}})
    assert isinstance(op.file_path, RenderedUri)
    assert str(op.file_path) == repr(op.file_path) == "https://bucket.test/offers/spring.png"
    op.render_template_fields({**context, "params": {"image": presigned}})  # rendering twice does not wrap twice
    assert op.file_path.value == presigned

    upload_answers(http)
    op.execute(context)
    assert read.call_args.args[0] == presigned
    assert [call.request.method for call in http.calls] == ["GET", "POST", "PUT", "GET"]


def test_rendered_object_storage_path_hides_a_presigned_signature(context: dict[str, Any]) -> None:
    """An ObjectStoragePath given whole is shown without its query too: Airflow would serialise its full URL."""
    presigned = "s3://bucket/offers/spring.png?X-Amz-Signature=abc123secret"  # 2.11 mangles an https:// path's text
    path = ObjectStoragePath(presigned)
    op = CcaiUploadFileOperator(task_id="upload", file_path=path)
    op.render_template_fields(context)
    assert isinstance(op.file_path, RenderedUri)
    assert "abc123secret" not in str(op.file_path)
    assert str(op.file_path) == "s3://bucket/offers/spring.png"
    assert op.file_path.value == path and str(op.file_path.value) == presigned  # the operator reads it whole


@pytest.mark.parametrize("rendered", ["/data/offers/spring.png", "s3://bucket/offers/spring.png"])
def test_rendered_file_path_without_a_query_is_shown_as_is(rendered: str, context: dict[str, Any]) -> None:
    op = CcaiUploadFileOperator(task_id="upload", file_path="{{ params.image }}")
    op.render_template_fields({**context, "params": {"image": rendered}})
    assert op.file_path == rendered


def test_upload_with_file_name_always_uploads_under_that_name(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/x"})
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    op = CcaiUploadFileOperator(
        task_id="upload", file_path=_write(tmp_path, "a.png", PNG), file_name="Weekly_Offer+50pct.PNG", public=False
    )
    assert op.execute(context) == f"{CLIENT_ID}/campaign/Weekly_Offer+50pct.PNG"
    assert [call.request.method for call in http.calls] == ["POST", "PUT", "GET"]
    body = json.loads(http.calls[0].request.body)
    assert (body["fileName"], body["fileType"], body["publicFile"]) == ("Weekly_Offer+50pct.PNG", "image/png", False)
    assert http.calls[1].request.body == PNG


@pytest.mark.parametrize("file_name", ["offer.jpg", "offer.JPEG", "week.48.jpeg"])
def test_upload_with_file_name_takes_either_jpeg_extension(
    tmp_path: Path, ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], file_name: str
) -> None:
    http.post(UPLOAD_URL, json={"signedS3Url": SIGNED_URL})
    http.put(SIGNED_URL)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/x"})
    op = CcaiUploadFileOperator(task_id="upload", file_path=_write(tmp_path, "a.jpg", JPEG), file_name=file_name)
    assert op.execute(context) == f"{CLIENT_ID}/campaign/{file_name}"
    assert http.calls[1].request.headers["Content-Type"] == "image/jpeg"


# -- CcaiCreateCampaignOperator: the request ---------------------------------------------------------


def test_a_picture_file_key_ccai_does_not_store_fails_before_the_campaign(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    """CCAI accepts an unknown key and sends the MMS without its picture: a mistyped key must not get that far."""
    http.get(STORED_URL, json={"storedUrl": ""})
    http.post(CREATE_URL, json={"id": 1})
    op = campaign_op(picture_file_key=f"{CLIENT_ID}/campaign/offer-typo.png")

    with pytest.raises(CcaiInputError, match=r"picture_file_key: '1234/campaign/offer-typo.png' is not stored"):
        op.execute(context)
    assert calls(http, "POST") == []


@pytest.mark.parametrize("earlier_campaign", [True, False], ids=["an earlier try sent", "none did"])
def test_a_retry_looks_for_the_earlier_campaign_before_checking_the_picture(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, earlier_campaign: bool
) -> None:
    """The picture may be gone since the try that sent: its campaign is returned; else the check fails the retry."""
    began = NOW - timedelta(minutes=30)
    http.get(LIST_URL, json=[listed(451, began + timedelta(minutes=1))] if earlier_campaign else [])
    mock_totals(http, {451: len(ACCOUNTS)})
    http.get(STORED_URL, json={"storedUrl": ""})
    http.post(CREATE_URL, json={"id": 999})
    op = campaign_op(picture_file_key=f"{CLIENT_ID}/campaign/a.png")

    if earlier_campaign:
        assert op.execute(second_try(mocker, start_date=began)) == 451
        assert calls(http, "GET", STORED_URL) == []
    else:
        with pytest.raises(CcaiInputError, match=r"is not stored in CCAI; .* Nothing was sent"):
            op.execute(second_try(mocker, start_date=began))
        assert len(calls(http, "GET", LIST_URL)) == 1  # looked first
    assert calls(http, "POST") == []


def test_campaign_body_and_result(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], logs: CapturedLogs
) -> None:
    response = {
        "id": 12345,
        "status": "PENDING",
        "title": TITLE,
        "message": MESSAGE,
        "pictureFileKey": f"{CLIENT_ID}/campaign/a.png",
        "fileKey": None,
        "client": {"id": 6789, "apiKey": "leaked-key", "accountId": 1},
        "accounts": [{"phone": PHONES[0]}],
        "createdDate": NOW.isoformat(),
    }
    http.post(CREATE_URL, json=response)
    http.get(STORED_URL, json={"storedUrl": "https://cdn.test/a.png"})
    op = campaign_op(picture_file_key=f"{CLIENT_ID}/campaign/a.png", sender_phone="+15550009999")
    assert op.execute(context) == 12345
    stored, create = http.calls
    assert stored.request.url == f"{STORED_URL}?fileKey={CLIENT_ID}%2Fcampaign%2Fa.png"
    assert json.loads(create.request.body) == {
        "accounts": WIRE_ACCOUNTS,
        "message": MESSAGE,
        "title": TITLE,
        "pictureFileKey": f"{CLIENT_ID}/campaign/a.png",
        "senderPhone": "+15550009999",
    }
    assert create.request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert create.request.headers["ForceNewCampaign"] == "true"

    context["ti"].xcom_push.assert_called_once()
    pushed = context["ti"].xcom_push.call_args.kwargs
    assert pushed["key"] == "campaign"
    value = pushed["value"]
    assert value["id"] == 12345
    assert value["pictureFileKey"] == f"{CLIENT_ID}/campaign/a.png"
    assert "accounts" not in value

    def names(item: Any) -> Iterator[str]:
        if isinstance(item, dict):
            for name, nested in item.items():
                yield name
                yield from names(nested)
        elif isinstance(item, list):
            for nested in item:
                yield from names(nested)

    secret_like = [n for n in names(value) if re.search("(?i)key|token|secret", n)]
    assert sorted(secret_like) == ["fileKey", "pictureFileKey"]
    assert "leaked-key" not in json.dumps(value)
    assert_no_phone(json.dumps(value))
    assert f"CCAI campaign 12345: status PENDING, {len(ACCOUNTS)} recipients" in logs.text  # id, status, count ...
    assert_no_phone(logs.text)  # ... and no recipient


def test_campaign_message_variables_reach_the_body_untouched(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, json={"id": 1})
    op = campaign_op(message="${firstName}, {{ not rendered here }} ${ offer } $${x}")
    op.execute(context)
    assert json.loads(http.calls[0].request.body)["message"] == "${firstName}, {{ not rendered here }} ${ offer } $${x}"


@pytest.mark.parametrize(
    "accounts",
    [str(ACCOUNTS), json.dumps(ACCOUNTS), "\n  " + str(ACCOUNTS) + "\n", tuple(ACCOUNTS)],
    ids=["python literal (xcom_pull rendered)", "json text", "padded text", "tuple"],
)
def test_campaign_accepts_rendered_lists(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], accounts: Any
) -> None:
    http.post(CREATE_URL, json={"id": 7})
    assert campaign_op(accounts=accounts).execute(context) == 7
    assert json.loads(http.calls[0].request.body)["accounts"] == WIRE_ACCOUNTS


@pytest.mark.parametrize(
    ("timestamp", "zone", "expected"),
    [
        ("2099-07-01T09:00:00", "America/New_York", "2099-07-01T13:00:00.000Z"),
        ("2099-01-02T03:04:05.678Z", None, "2099-01-02T03:04:05.678Z"),
        ("2099-01-02T03:04:05+02:00", None, "2099-01-02T01:04:05.000Z"),
        ("2099-01-02T03:04:05+02:00", "Asia/Tokyo", "2099-01-02T01:04:05.000Z"),
        (datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc), None, "2099-01-02T03:04:05.000Z"),
    ],
)
def test_campaign_scheduled_is_sent_in_utc(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    timestamp: Any,
    zone: str | None,
    expected: str,
) -> None:
    """The instant goes out in UTC and is labelled UTC: right whichever way CCAI reads the zone."""
    http.post(CREATE_URL, json={"id": 8})
    campaign_op(scheduled_timestamp=timestamp, scheduled_timezone=zone).execute(context)
    body = json.loads(http.calls[0].request.body)
    assert (body["scheduledTimestamp"], body["scheduledTimezone"]) == (expected, "UTC")


BAD_CAMPAIGNS = {
    "empty list": ({"accounts": []}, r"accounts: no recipients"),
    "empty text": ({"accounts": "  "}, r"accounts: empty"),
    "one object": ({"accounts": ACCOUNTS[0]}, r"accounts: expected a list of recipients, got one object"),
    "number": ({"accounts": 42}, r"accounts: expected a list .*got int"),
    "None": ({"accounts": None}, r"accounts: expected a list .*got NoneType"),
    "unparsable literal": ({"accounts": "[{'phone': "}, r"accounts: rendered text looks like a list but is neither"),
    "mapped task's results as Airflow 2.11 renders them": (
        {"accounts": "LazySelectSequence([2 items])"},
        r"accounts: rendered to the text of a mapped task's results .* pass the upstream task's \.output",
    ),
    "literal with a list as a key": ({"accounts": "[{[1]: 2}]"}, r"accounts: rendered text looks like a list but"),
    "list nested too deep": ({"accounts": "[" * 5000}, r"accounts: rendered text looks like a list but is neither"),
    "Python literal too long to parse safely": (
        {"accounts": "[" + "{'firstName': 'A', 'lastName': 'L', 'phone': '+14155550101'}, " * 20_000 + "]"},
        r"accounts: rendered text is 1\.2 MB of Python literal, more than can be parsed safely; pass .*\.output",
    ),
    "row missing phone": (
        {"accounts": [ACCOUNTS[0], {"firstName": "B", "lastName": "R"}]},
        r"accounts row 2 \(phone",
    ),
    "phone not E.164": (
        {"accounts": [{"firstName": "A", "lastName": "L", "phone": "5550009999"}]},
        r"accounts row 1 \(phone: .*E\.164",
    ),
    "phone garbage": ({"accounts": [{"firstName": "A", "lastName": "L", "phone": "+1abc"}]}, r"accounts row 1 \(phone"),
    "row missing firstName": (
        {"accounts": [ACCOUNTS[0], {"lastName": "R", "phone": "+15550009999"}]},
        r"accounts row 2 \(firstName",
    ),
    "row missing lastName": (
        {"accounts": [{"firstName": "A", "phone": "+15550009999"}]},
        r"accounts row 1 \(lastName",
    ),
    "row not an object": ({"accounts": [ACCOUNTS[0], "+15550009999"]}, r"accounts row 2"),
    "duplicate phone": (
        {"accounts": [*ACCOUNTS, {"firstName": "D", "lastName": "Up", "phone": PHONES[0]}]},
        r"accounts row 4 \(phone: duplicate of row 1\)",
    ),
    "empty message": ({"message": ""}, r"message: must not be empty"),
    "blank message": ({"message": " \n "}, r"message: must not be empty"),
    "message not text": ({"message": None}, r"message: expected a string, got NoneType"),
    "empty title": ({"title": ""}, r"title: must not be empty"),
    "title not text": ({"title": 2024}, r"title: expected a string, got int"),
    "bad scheduled_timestamp": ({"scheduled_timestamp": "next tuesday"}, r"scheduled_timestamp: .* is not an ISO 8601"),
    "scheduled_timestamp number": ({"scheduled_timestamp": 1700000000}, r"scheduled_timestamp: expected ISO 8601"),
    "naive timestamp": ({"scheduled_timestamp": "2099-01-01T10:00:00"}, r"scheduled_timestamp: has no UTC offset"),
    "naive datetime": ({"scheduled_timestamp": datetime(2099, 1, 1, 10)}, r"scheduled_timestamp: has no UTC offset"),
    "past timestamp": ({"scheduled_timestamp": "2001-01-01T00:00:00Z"}, r"scheduled_timestamp: .* is in the past"),
    "unknown timezone": (
        {"scheduled_timestamp": "2099-01-01T10:00:00", "scheduled_timezone": "Mars/Olympus_Mons"},
        r"scheduled_timezone: 'Mars/Olympus_Mons' is not a known time zone",
    ),
    "timezone that is a folder of zones": (
        {"scheduled_timestamp": "2099-01-01T10:00:00", "scheduled_timezone": "America"},
        r"scheduled_timezone: 'America' is not a known time zone",
    ),
    "timezone name too long": (
        {"scheduled_timestamp": "2099-01-01T10:00:00", "scheduled_timezone": "Europe/" + "x" * 300},
        r"scheduled_timezone: 'Europe/x+' is not a known time zone",
    ),
    "timestamp beyond year 9999 in UTC": (
        {"scheduled_timestamp": "9999-12-31T23:00:00-05:00"},
        r"scheduled_timestamp: '9999-12-31T23:00:00-05:00' is out of range",
    ),
    "time the clock skips": (  # spring forward: 02:30 never happens in New York on 2099-03-08
        {"scheduled_timestamp": "2099-03-08T02:30:00", "scheduled_timezone": "America/New_York"},
        r"scheduled_timestamp: '2099-03-08T02:30:00' falls in a daylight-saving change in America/New_York",
    ),
    "time the clock shows twice": (  # fall back: 01:30 happens twice in New York on 2099-11-01
        {"scheduled_timestamp": datetime(2099, 11, 1, 1, 30), "scheduled_timezone": "America/New_York"},
        r"scheduled_timestamp: .* falls in a daylight-saving change in America/New_York",
    ),
    "timezone without timestamp": ({"scheduled_timezone": "UTC"}, r"scheduled_timezone: given without"),
    "sender_phone not E.164": ({"sender_phone": "5550009999"}, r"sender_phone: not in E\.164"),
    "sender_phone not text": ({"sender_phone": 15550009999}, r"sender_phone: expected a string"),
    "picture_file_key of another client": (
        {"picture_file_key": "999/campaign/a.png"},
        r"picture_file_key: '999/campaign/a.png' belongs to another client; .* start with '1234/'",
    ),
    "picture_file_key not a key": ({"picture_file_key": "a.png"}, r"picture_file_key: 'a.png' is not a CCAI file key"),
    "picture_file_key with a space": (
        {"picture_file_key": "1234/campaign/a b.png"},
        r"picture_file_key: '1234/campaign/a b.png' ",
    ),
}


@pytest.mark.parametrize(("overrides", "expected"), BAD_CAMPAIGNS.values(), ids=BAD_CAMPAIGNS.keys())
def test_campaign_bad_input_fails_before_any_request(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    logs: CapturedLogs,
    overrides: dict[str, Any],
    expected: str,
) -> None:
    http.post(CREATE_URL, json={"id": 1})
    http.get(LIST_URL, json=[])
    with pytest.raises(CcaiInputError, match=expected) as raised:
        campaign_op(**overrides).execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert len(http.calls) == 0
    context["ti"].xcom_push.assert_not_called()
    assert_no_phone(str(raised.value), logs.text)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ({"on_invalid": "maybe"}, r"^on_invalid: expected 'fail' or 'skip', got 'maybe'$"),
        ({"unmapped_columns": "keep"}, r"^unmapped_columns: expected 'ignore' or 'data', got 'keep'$"),
    ],
    ids=["on_invalid", "unmapped_columns"],
)
def test_an_unknown_option_fails_when_the_dag_is_parsed(option: dict[str, str], expected: str) -> None:
    """Not templated, so a typo shows as the DAG's import error, not on the schedule's next run."""
    with pytest.raises(CcaiInputError, match=expected):
        campaign_op(**option)


def test_campaign_skip_mode_lists_the_first_20_skipped_rows_and_counts_the_rest(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], logs: CapturedLogs
) -> None:
    http.post(CREATE_URL, json={"id": 4})
    bad = [{"firstName": "X", "lastName": "Y", "phone": f"555000{n:04d}"} for n in range(25)]
    assert campaign_op(accounts=[*ACCOUNTS, *bad], on_invalid="skip").execute(context) == 4
    rows = ", ".join(f"{n} (phone)" for n in range(4, 24))  # rows 4-23: the first 20 of 25 (numbered from 1)
    assert f"Skipped 25 invalid recipient rows: {rows} and 5 more" in logs.text
    assert_no_phone(logs.text)


def test_callable_accounts_are_called_with_the_context_when_rendered(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    """Airflow lets a templated field be a callable of the context and Jinja environment."""
    calls: list[dict[str, Any]] = []

    def audience(**kwargs: Any) -> list[dict[str, Any]]:
        calls.append(kwargs)
        return ACCOUNTS

    op = campaign_op(accounts=audience)
    op.render_template_fields(context)
    assert [sorted(call) for call in calls] == [["context", "jinja_env"]]
    assert str(op.accounts) == "<recipients: 3 rows, not shown>"
    http.post(CREATE_URL, json={"id": 12})
    assert op.execute(context) == 12
    assert json.loads(http.calls[0].request.body)["accounts"] == WIRE_ACCOUNTS


def test_campaign_skip_mode_logs_rows_not_numbers(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], logs: CapturedLogs
) -> None:
    http.post(CREATE_URL, json={"id": 3})
    accounts = [*ACCOUNTS, {"firstName": "X", "lastName": "Y", "phone": "5550009999"}]
    assert campaign_op(accounts=accounts, on_invalid="skip").execute(context) == 3
    assert json.loads(http.calls[0].request.body)["accounts"] == WIRE_ACCOUNTS
    assert "Skipped 1 invalid recipient rows: 4 (phone)" in logs.text
    assert_no_phone(logs.text)


# -- CcaiCreateCampaignOperator: at most one campaign -----------------------------------------------


def test_lost_response_is_resolved_by_looking(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], logs: CapturedLogs
) -> None:
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    older = listed(501, NOW - timedelta(days=3))
    looks: list[int] = []

    def campaigns(request: Any) -> tuple[int, dict[str, str], str]:
        # the third look finds the campaign, created (by CCAI's clock) after the lost request was sent
        looks.append(1)
        found = [older] if len(looks) < 3 else [listed(555, NOW), older]
        return 200, {}, json.dumps(found)

    http.add_callback("GET", LIST_URL, callback=campaigns)
    mock_totals(http, {555: len(ACCOUNTS)})
    assert campaign_op().execute(context) == 555
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert len(calls(http, "GET", LIST_URL)) == 3
    assert context["ti"].xcom_push.call_args.kwargs["value"]["id"] == 555
    assert "looking for the campaign" in logs.text


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ReadTimeout("read timed out")},
        {"status": 502, "body": "bad gateway"},
    ],
    ids=["read timeout", "502"],
)
@pytest.mark.parametrize(
    "campaigns",
    [
        [],
        [listed(9, NOW + timedelta(minutes=1), title="Another title")],
        [listed(9, NOW + timedelta(minutes=1), message="Another message")],
        [listed(9, NOW - timedelta(days=1))],
    ],
    ids=["nothing", "other title", "other message", "older"],
)
def test_lost_response_without_a_campaign_fails_retryably(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    failure: dict[str, Any],
    campaigns: list[dict[str, Any]],
) -> None:
    http.post(CREATE_URL, **failure)
    http.get(LIST_URL, json=campaigns)
    with pytest.raises(AirflowException, match="probably not created") as raised:
        campaign_op().execute(context)
    assert not isinstance(raised.value, AirflowFailException)
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert len(calls(http, "GET", LIST_URL)) == once.LOOKUP_ATTEMPTS
    context["ti"].xcom_push.assert_not_called()


@pytest.mark.parametrize(
    "accepted",
    [
        {"status": 200, "body": "not json"},
        {"status": 200, "json": {"id": "777"}},
        {"status": 201, "body": ""},
        {"status": 200, "json": {"id": True}},
    ],
    ids=["malformed 200", "id not an integer", "empty 201", "id true"],
)
def test_accepted_create_without_an_id_or_a_listing_fails_without_retries(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], accepted: dict[str, Any]
) -> None:
    """A 2xx says the campaign exists: if the list does not show it, a retry would send it a second time."""
    http.post(CREATE_URL, **accepted)
    http.get(LIST_URL, json=[])
    with pytest.raises(CcaiUnlistedCampaignError, match="CCAI accepted the campaign") as raised:
        campaign_op().execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert len(calls(http, "GET", LIST_URL)) == once.LOOKUP_ATTEMPTS
    context["ti"].xcom_push.assert_not_called()


def test_first_try_sends_without_looking(ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any) -> None:
    context = {"ti": mocker.MagicMock(try_number=1), "dag_run": mocker.MagicMock(start_date=NOW - timedelta(hours=1))}
    http.post(CREATE_URL, json={"id": 10})
    http.get(LIST_URL, json=[listed(9, NOW)])
    assert campaign_op().execute(context) == 10
    assert [call.request.method for call in http.calls] == ["POST"]


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({}, id="empty store, run not cleared"),  # clear_on_success, or a REST clear keeping clear_number
        pytest.param({"ccai_campaign": {"__airflow_state_ref__": "x"}}, id="record another backend wrote"),
    ],
)
def test_retry_with_no_readable_record_looks_from_the_run_start(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, stored: dict[str, Any]
) -> None:
    """On Airflow 3.3+ an empty or unreadable task state store does not prove that no earlier try sent."""
    start = NOW - timedelta(hours=1)
    context = second_try(mocker, start_date=start, clear_number=0)
    context["task_state_store"] = store = FakeTaskStateStore(**stored)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, start + timedelta(minutes=1)), listed(301, start - timedelta(days=7))])
    mock_totals(http, {446: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 446
    assert calls(http, "POST") == []
    assert store.values["ccai_campaign"]["campaign_id"] == 446


@pytest.mark.parametrize("dag_run", [None, {"start_date": None, "clear_number": 0}], ids=["no DAG run", "no start"])
def test_retry_that_cannot_tell_when_an_earlier_try_ran_fails_without_sending(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, dag_run: dict[str, Any] | None
) -> None:
    """With no task state record and no DAG run start there is nothing to look from; sending could text twice."""
    context = second_try(mocker) if dag_run is None else second_try(mocker, **dag_run)
    if dag_run is None:
        context["dag_run"] = None
    http.post(CREATE_URL, json={"id": 999})

    with pytest.raises(CcaiEarlierTryUnknownError, match="not sending again") as failure:
        campaign_op().execute(context)

    assert isinstance(failure.value, AirflowFailException)
    assert TITLE in str(failure.value)
    assert len(http.calls) == 0


def test_retry_finds_the_earlier_tries_campaign(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(444, start + timedelta(minutes=1)), listed(300, start - timedelta(days=7))])
    mock_totals(http, {444: len(ACCOUNTS)})
    assert campaign_op().execute(context) == 444
    assert calls(http, "POST") == []
    assert context["ti"].xcom_push.call_args.kwargs["value"]["id"] == 444


@pytest.mark.parametrize("created", [None, "yesterday", NOW.date().isoformat()])
def test_retry_fails_without_sending_when_a_match_has_no_readable_creation_time(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, created: Any
) -> None:
    """Such a campaign may be this run's or last month's: neither adopting it nor sending again is safe."""
    context = second_try(mocker, start_date=NOW)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[{**listed(300, NOW), "createdDate": created}])
    with pytest.raises(CcaiAmbiguousMatchError, match=r"campaign\(s\) 300 .*without a readable creation time"):
        campaign_op().execute(context)
    assert calls(http, "POST") == []
    context["ti"].xcom_push.assert_not_called()


def test_retry_sends_when_no_earlier_campaign_exists(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(300, start - timedelta(days=7))])
    assert campaign_op().execute(context) == 999
    assert [call.request.method for call in http.calls] == ["GET", "POST"]


def stats_url(campaign_id: int) -> str:
    return f"{UNIT_API_URL}/v2/messages/campaign/{campaign_id}/stats"


def mock_totals(http: responses.RequestsMock, totals: dict[int, int]) -> None:
    for campaign_id, total in totals.items():
        counts = {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": total, "totalCount": total}
        http.get(stats_url(campaign_id), json=counts)


def test_retry_tells_several_matching_campaigns_apart_by_recipient_count(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Two tasks of one run sent the same text to lists of different sizes: the retry takes its own."""
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, start + timedelta(minutes=2)), listed(445, start + timedelta(minutes=1))])
    mock_totals(http, {446: 40, 445: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 445
    assert calls(http, "POST") == []
    assert len(calls(http, "GET", stats_url(446))) == 1


@pytest.mark.parametrize(
    "totals",
    [{446: 3, 445: 3}, {446: 40, 445: 41}],
    ids=["both have this task's count", "neither has it"],
)
def test_retry_that_cannot_tell_several_campaigns_apart_fails_without_sending(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, totals: dict[int, int]
) -> None:
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, start + timedelta(minutes=2)), listed(445, start + timedelta(minutes=1))])
    mock_totals(http, totals)

    with pytest.raises(CcaiAmbiguousMatchError, match=r"ids 446, 445.*Nothing was sent again") as raised:
        campaign_op().execute(context)
    assert isinstance(raised.value, AirflowFailException)
    assert "{{ ti.map_index }}" in str(raised.value)
    assert_no_phone(str(raised.value))
    assert calls(http, "POST") == []
    context["ti"].xcom_push.assert_not_called()


def test_retry_with_more_matches_than_it_compares_fails_without_reading_their_stats(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    too_many = once.MAX_CANDIDATES + 1
    http.get(LIST_URL, json=[listed(500 + i, start + timedelta(minutes=1)) for i in range(too_many)])

    with pytest.raises(CcaiAmbiguousMatchError, match=rf"{too_many} campaign\(s\) .* more than 10 are too many"):
        campaign_op().execute(context)
    # the list only, at each look (a look that cannot decide is repeated): no stats, no POST
    assert [call.request.method for call in http.calls] == ["GET"] * once.LOOKUP_ATTEMPTS


def test_retry_looks_again_while_the_earlier_campaigns_counts_fill_in(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Right after the earlier try, CCAI may count 0 messages; deciding then would fail a task a look settles."""
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, start + timedelta(minutes=2))])
    mock_totals(http, {446: 0})
    mock_totals(http, {446: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 446
    assert calls(http, "POST") == []
    assert [call.request.url for call in http.calls].count(stats_url(446)) == 2


def test_retry_that_only_ever_sees_a_count_of_zero_fails_retryably_and_sends_nothing(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """A campaign CCAI counts no messages for yet may be this task's, still filling in: a later retry decides."""
    start = NOW - timedelta(minutes=30)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(447, start + timedelta(minutes=2))])
    http.get(
        stats_url(447), json={"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 0, "totalCount": 0}
    )

    with pytest.raises(CcaiCampaignFillingError) as raised:
        campaign_op().execute(second_try(mocker, start_date=start))
    assert not isinstance(raised.value, AirflowFailException)
    assert calls(http, "POST") == []
    assert [call.request.url for call in http.calls].count(stats_url(447)) == once.LOOKUP_ATTEMPTS


def test_retry_fails_without_retries_when_the_only_match_is_a_finished_smaller_campaign(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """A sibling's campaign, sent in full: no retry will make it this task's, so none is spent waiting for it."""
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.get(LIST_URL, json=[listed(500, start + timedelta(minutes=2))])
    mock_totals(http, {500: len(ACCOUNTS) - 1})  # all sent, none pending or sending

    with pytest.raises(CcaiAmbiguousMatchError, match=r"ids 500\) and 0 of them have 3 recipients"):
        campaign_op().execute(context)
    assert calls(http, "POST") == []


def test_retry_does_not_adopt_a_lone_match_of_another_size(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Another task's campaign with the same text: adopting it would leave this task's recipients untexted."""
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, start + timedelta(minutes=2))])
    mock_totals(http, {446: 40})

    with pytest.raises(CcaiAmbiguousMatchError, match=r"1 campaign\(s\) .*ids 446\) and 0 of them have 3 recipients"):
        campaign_op().execute(context)
    assert calls(http, "POST") == []
    context["ti"].xcom_push.assert_not_called()


@pytest.mark.parametrize(
    ("due", "store_emptied"),
    [
        pytest.param({"run_after": NOW - timedelta(hours=2)}, False, id="Airflow 3: run_after"),
        pytest.param(
            {"run_after": NOW - timedelta(hours=2)},
            True,
            id="Airflow 3.3 with [state_store] clear_on_success: the store is empty",
        ),
        pytest.param(
            {"data_interval_end": NOW - timedelta(hours=2), "logical_date": NOW - timedelta(days=7, hours=2)},
            False,
            id="Airflow 2.11 scheduled run: data_interval_end",
        ),
        pytest.param(
            {"data_interval_end": NOW - timedelta(days=3), "logical_date": NOW - timedelta(hours=2)},
            False,
            id="Airflow 2.11 manual run: logical_date",
        ),
    ],
)
def test_try_after_clearing_a_finished_run_still_finds_its_campaign(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    mocker: Any,
    due: dict[str, datetime],
    store_emptied: bool,
) -> None:
    """Clearing resets the run's start_date to now; the time the run became due does not move.

    On Airflow 3.3 the succeeded try's record may be gone from the task state store, so an empty store
    after clearing does not mean "never sent".
    """
    context = second_try(mocker, start_date=NOW, clear_number=1, **due)
    if store_emptied:
        context["task_state_store"] = store = FakeTaskStateStore()
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(447, NOW - timedelta(hours=1, minutes=55))])
    mock_totals(http, {447: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 447
    assert calls(http, "POST") == []
    if store_emptied:
        assert store.values["ccai_campaign"]["campaign_id"] == 447


@pytest.mark.parametrize(
    ("clear_number", "due", "earlier"),
    [
        pytest.param(
            0, {"data_interval_end": NOW - timedelta(days=14)}, NOW - timedelta(days=12), id="never cleared: start_date"
        ),
        pytest.param(
            1,
            {"data_interval_end": NOW - timedelta(days=10)},
            NOW - timedelta(days=12),
            id="cleared: from when it became due",
        ),
        pytest.param(
            1,
            {"data_interval_end": NOW - timedelta(hours=2), "logical_date": NOW - timedelta(days=7, hours=2)},
            NOW - timedelta(days=3),
            id="cleared scheduled run: from data_interval_end, not logical_date",
        ),
    ],
)
def test_retry_does_not_look_back_before_the_run_could_have_sent(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    mocker: Any,
    clear_number: int,
    due: dict[str, datetime],
    earlier: datetime,
) -> None:
    """
    A same-text campaign from before the window (e.g. another run's) is not taken for this run's; a run that
    was never cleared (a catch-up or queued run) looks back to its start, not to when it became due, and a
    scheduled run on 2.11 became due at the end of its data interval, not at its logical date.
    """
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start, clear_number=clear_number, run_after=None, **due)  # as on 2.11
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(300, earlier)])
    mock_totals(http, {300: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 999
    assert [call.request.method for call in http.calls] == ["GET", "POST"]


def test_retry_in_a_run_tested_for_a_future_date_looks_back_to_when_it_was_triggered(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Airflow 3's ``dags test`` of a future logical date: the run "starts" at that date, it was due when run."""
    context = second_try(mocker, start_date=NOW + timedelta(days=2), run_after=NOW - timedelta(hours=1), clear_number=0)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, NOW - timedelta(minutes=50))])
    mock_totals(http, {446: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 446
    assert calls(http, "POST") == []


@pytest.fixture
def local_time_behind_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is New York's, so that naive dates read as local time would differ."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_behind_utc")
def test_retry_reads_naive_run_dates_as_utc(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Real Airflow hands aware dates; a custom runner's naive ones are read as UTC, not as the worker's local time."""
    start = (NOW - timedelta(hours=1)).replace(tzinfo=None)
    context = second_try(mocker, start_date=start, clear_number=0)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, NOW - timedelta(minutes=50))])
    mock_totals(http, {446: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 446
    assert calls(http, "POST") == []


def test_retry_in_a_run_that_begins_in_the_future_fails_without_sending(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Airflow 2.11's ``dags test`` of a future logical date: every date of the run lies ahead, none says since when."""
    later = NOW + timedelta(days=2)
    context = second_try(
        mocker, start_date=later, clear_number=0, run_after=None, logical_date=later, data_interval_end=later
    )
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(446, NOW - timedelta(minutes=5))])

    with pytest.raises(CcaiEarlierTryUnknownError, match="not sending again"):
        campaign_op().execute(context)
    assert len(http.calls) == 0


@pytest.mark.parametrize("path", ["retry", "lost response"])
def test_a_candidate_seen_filling_then_missing_from_the_list_is_not_taken_as_never_created(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, context: dict[str, Any], path: str
) -> None:
    """CCAI's list may come from copies that lag by different amounts: a campaign seen once may vanish from it."""
    if path == "retry":
        context = second_try(mocker, start_date=NOW - timedelta(minutes=30))
        http.post(CREATE_URL, json={"id": 999})
    else:
        http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.get(LIST_URL, json=[listed(446, NOW)])
    http.get(LIST_URL, json=[])  # every later look
    empty = {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 0, "totalCount": 0}
    http.get(stats_url(446), json=empty)

    with pytest.raises(CcaiCampaignFillingError, match="446"):
        campaign_op().execute(context)
    assert len(calls(http, "POST")) == (0 if path == "retry" else 1)
    assert len(calls(http, "GET", LIST_URL)) == 3


def test_lost_response_looks_again_while_the_campaigns_count_fills_in(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.get(LIST_URL, json=[listed(449, NOW)])
    filling = {"errorCount": 0, "pendingCount": 1, "sendingCount": 0, "sentCount": 0, "totalCount": 1}
    http.get(stats_url(449), json=filling)  # CCAI is still adding the messages
    mock_totals(http, {449: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 449
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert len(calls(http, "GET", stats_url(449))) == 2


def test_lost_response_whose_match_is_still_filling_in_fails_the_try_and_the_retry_finds_it(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], mocker: Any
) -> None:
    """A large campaign may take longer to fill in than the three looks: the retry, minutes later, decides."""
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.get(LIST_URL, json=[listed(451, NOW)])
    filling = {"errorCount": 0, "pendingCount": 1, "sendingCount": 0, "sentCount": 0, "totalCount": 1}
    http.get(stats_url(451), json=filling)

    with pytest.raises(
        CcaiCampaignFillingError, match=r"campaign\(s\) 451 \(1\) .*a retry of this task looks again"
    ) as raised:
        campaign_op().execute(context)
    assert not isinstance(raised.value, AirflowFailException)  # Airflow's retry applies
    assert len(calls(http, "GET", stats_url(451))) == once.LOOKUP_ATTEMPTS

    http.replace(responses.GET, stats_url(451), json={**filling, "pendingCount": 0, "sentCount": 3, "totalCount": 3})
    retry = second_try(mocker, start_date=NOW - timedelta(minutes=1))
    assert campaign_op().execute(retry) == 451
    assert len(calls(http, "POST", CREATE_URL)) == 1


def test_lost_response_whose_match_never_reaches_this_size_fails_without_sending(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.get(LIST_URL, json=[listed(450, NOW)])
    mock_totals(http, {450: 40})

    with pytest.raises(CcaiAmbiguousMatchError, match="ids 450"):
        campaign_op().execute(context)
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert len(calls(http, "GET", LIST_URL)) == once.LOOKUP_ATTEMPTS


def test_recorded_campaign_is_returned_when_the_list_cannot_be_read(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    store = FakeTaskStateStore(ccai_campaign={"submitted_at": NOW.isoformat(), "campaign_id": 77})
    context = {"ti": mocker.MagicMock(try_number=2), "dag_run": mocker.MagicMock(), "task_state_store": store}
    http.get(LIST_URL, json={"content": [], "totalPages": 3})
    assert campaign_op().execute(context) == 77
    assert calls(http, "POST") == []
    assert context["ti"].xcom_push.call_args.kwargs["value"] == {"id": 77}


def test_lost_response_finds_a_campaign_dated_by_a_clock_that_runs_behind(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    behind = NOW - timedelta(seconds=40)  # CCAI's clock 40 s behind the worker's
    http.get(LIST_URL, json=[listed(448, behind)])
    mock_totals(http, {448: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 448
    assert len(calls(http, "POST", CREATE_URL)) == 1


@pytest.mark.parametrize("path", ["task state store", "run start"])
def test_retry_finds_an_earlier_campaign_dated_by_a_clock_that_runs_behind(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, path: str
) -> None:
    """An earlier try sent when the run started (or as recorded), and CCAI's clock is 40 s behind the worker's."""
    began = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=began, clear_number=0)
    if path == "task state store":
        context["task_state_store"] = FakeTaskStateStore(ccai_campaign={"submitted_at": began.isoformat()})
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(449, began - timedelta(seconds=40))])
    mock_totals(http, {449: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 449
    assert calls(http, "POST") == []


@pytest.mark.parametrize(
    ("message", "found"),
    [(MESSAGE, True), ("another text", False), (None, True), (..., True)],
    ids=["same message", "another message", "message null", "no message field"],
)
def test_retry_matches_by_message_unless_the_list_leaves_it_out(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, message: Any, found: bool
) -> None:
    """CCAI's list may not carry the message (an open question): a listing without it (or null) is matched by title."""
    began = NOW - timedelta(minutes=30)
    campaign = listed(450, began + timedelta(minutes=1))
    if message is ...:
        del campaign["message"]
    else:
        campaign["message"] = message
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[campaign])
    mock_totals(http, {450: len(ACCOUNTS)})

    assert campaign_op().execute(second_try(mocker, start_date=began)) == (450 if found else 999)
    assert len(calls(http, "POST")) == (0 if found else 1)


def test_lost_response_with_several_candidates_takes_the_one_of_this_size(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    later = NOW + timedelta(seconds=1)
    http.get(LIST_URL, json=[listed(601, later), listed(600, later - timedelta(milliseconds=5))])
    mock_totals(http, {601: 1, 600: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 600
    assert len(calls(http, "POST", CREATE_URL)) == 1
    assert context["ti"].xcom_push.call_args.kwargs["value"]["id"] == 600


def test_task_state_store_with_an_id_sends_nothing(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, logs: CapturedLogs
) -> None:
    store = FakeTaskStateStore(ccai_campaign={"campaign_id": 77})
    context = {
        "ti": mocker.MagicMock(try_number=2),
        "dag_run": mocker.MagicMock(start_date=NOW),
        "task_state_store": store,
    }
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(77, NOW)])
    assert campaign_op().execute(context) == 77
    assert calls(http, "POST") == []
    assert context["ti"].xcom_push.call_args.kwargs["value"]["id"] == 77
    assert "An earlier try created campaign 77 (status SENT); not sending again" in logs.text


def test_recorded_campaign_is_returned_even_when_its_schedule_time_has_passed(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """A retry that starts after the schedule time must not fail on input it no longer sends."""
    store = FakeTaskStateStore(ccai_campaign={"submitted_at": NOW.isoformat(), "campaign_id": 78})
    context = {"ti": mocker.MagicMock(try_number=2), "task_state_store": store}
    http.get(LIST_URL, json=[listed(78, NOW)])
    operator = campaign_op(scheduled_timestamp=(NOW - timedelta(minutes=5)).isoformat())

    assert operator.execute(context) == 78
    assert calls(http, "POST") == []


@pytest.mark.parametrize("found", [True, False], ids=["earlier campaign listed: returned", "none: fails, no send"])
def test_retry_after_the_schedule_time_looks_for_the_campaign_before_refusing_the_time(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any, found: bool
) -> None:
    """Try 1 scheduled a campaign minutes ahead and lost the response; the retry starts after that time."""
    start = NOW - timedelta(minutes=30)
    context = second_try(mocker, start_date=start)
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(452, start + timedelta(minutes=1))] if found else [])
    if found:
        mock_totals(http, {452: len(ACCOUNTS)})
    operator = campaign_op(scheduled_timestamp=(NOW - timedelta(minutes=5)).isoformat())

    if found:
        assert operator.execute(context) == 452
    else:
        with pytest.raises(CcaiInputError, match=r"scheduled_timestamp: .* is in the past"):
            operator.execute(context)
    assert calls(http, "POST") == []
    assert len(calls(http, "GET", LIST_URL)) == 1


def test_task_state_store_records_the_submission_and_the_id(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], mocker: Any
) -> None:
    store = FakeTaskStateStore()
    seen_before_post: list[Any] = []

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        seen_before_post.append(store.get(once.STATE_KEY))
        return 200, {}, json.dumps({"id": 31})

    http.add_callback("POST", CREATE_URL, callback=create)
    context["task_state_store"] = store
    assert campaign_op().execute(context) == 31
    assert list(seen_before_post[0]) == ["submitted_at"]
    state = store.get(once.STATE_KEY)
    assert state["campaign_id"] == 31
    assert state["submitted_at"] == seen_before_post[0]["submitted_at"]


def test_task_state_store_with_only_a_submission_looks_first(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    submitted = NOW - timedelta(minutes=2)
    store = FakeTaskStateStore(ccai_campaign={"submitted_at": submitted.isoformat()})
    context = {
        "ti": mocker.MagicMock(try_number=2),
        "dag_run": mocker.MagicMock(start_date=NOW),
        "task_state_store": store,
    }
    http.post(CREATE_URL, json={"id": 999})
    http.get(LIST_URL, json=[listed(66, submitted + timedelta(seconds=1))])
    mock_totals(http, {66: len(ACCOUNTS)})
    assert campaign_op().execute(context) == 66
    assert calls(http, "POST") == []
    assert store.get(once.STATE_KEY) == {"submitted_at": submitted.isoformat(), "campaign_id": 66}


def test_a_later_try_still_looks_back_to_the_first_submission(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Try 1 sent and lost the answer; try 2 did not see its campaign yet and failed; try 3 must find it."""
    first = NOW - timedelta(minutes=10)
    store = FakeTaskStateStore(ccai_campaign={"submitted_at": first.isoformat()})

    def context_of_try(number: int) -> dict[str, Any]:
        return {"ti": mocker.MagicMock(try_number=number), "dag_run": mocker.MagicMock(), "task_state_store": store}

    http.get(LIST_URL, json=[])  # try 2: the campaign list does not show try 1's campaign yet
    http.post(CREATE_URL, status=400, json={"error": "bad"})
    with pytest.raises(AirflowFailException, match="HTTP 400"):
        campaign_op().execute(context_of_try(2))
    assert store.get(once.STATE_KEY) == {"submitted_at": first.isoformat()}

    http.get(LIST_URL, json=[listed(70, first + timedelta(seconds=2))])  # now it does
    mock_totals(http, {70: len(ACCOUNTS)})
    assert campaign_op().execute(context_of_try(3)) == 70
    assert len(calls(http, "POST")) == 1  # try 2's, refused; try 3 sent nothing


def test_a_retry_whose_answer_is_lost_also_finds_the_first_tries_campaign(
    ccai_conn: dict[str, str], http: responses.RequestsMock, mocker: Any
) -> None:
    """Try 2 sees no campaign, sends, loses the answer; by then the list shows try 1's campaign: adopted."""
    first = NOW - timedelta(minutes=10)
    store = FakeTaskStateStore(ccai_campaign={"submitted_at": first.isoformat()})
    context = {"ti": mocker.MagicMock(try_number=2), "dag_run": mocker.MagicMock(), "task_state_store": store}
    http.get(LIST_URL, json=[])  # before sending: try 1's campaign is not listed yet
    http.post(CREATE_URL, body=requests.ReadTimeout("read timed out"))
    http.get(LIST_URL, json=[listed(80, first + timedelta(seconds=2))])  # after: it is (try 2's never showed)
    mock_totals(http, {80: len(ACCOUNTS)})

    assert campaign_op().execute(context) == 80
    assert len(calls(http, "POST")) == 1
    assert store.get(once.STATE_KEY) == {"submitted_at": first.isoformat(), "campaign_id": 80}


def test_rejected_create_is_not_looked_up(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, status=400, json={"error": "bad"})
    http.get(LIST_URL, json=[])
    with pytest.raises(AirflowFailException, match="HTTP 400"):
        campaign_op().execute(context)
    assert [call.request.method for call in http.calls] == ["POST"]


# -- RenderedRecipients -----------------------------------------------------------------------------


def test_rendered_accounts_hide_phone_numbers(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    op = campaign_op()
    op.render_template_fields(context)
    assert isinstance(op.accounts, RenderedRecipients)
    assert str(op.accounts) == repr(op.accounts) == "<recipients: 3 rows, not shown>"
    assert op.message == MESSAGE  # ${...} is not Jinja
    op.render_template_fields(context)  # rendering twice does not wrap twice
    assert isinstance(op.accounts.value, list)
    http.post(CREATE_URL, json={"id": 5})
    assert op.execute(context) == 5
    assert json.loads(http.calls[0].request.body)["accounts"] == WIRE_ACCOUNTS


def _native_dag() -> Any:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow import DAG  # type: ignore[assignment,no-redef]
    return DAG("native_rendering", schedule=None, start_date=NOW, render_template_as_native_obj=True)


def test_no_campaign_xcom_without_do_xcom_push(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    http.post(CREATE_URL, json={"id": 10})
    assert campaign_op(do_xcom_push=False).execute(context) == 10
    context["ti"].xcom_push.assert_not_called()


def test_native_rendering_keeps_templated_phones_and_titles_text(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    """Native rendering would read "+4915112345678" as the int 4915112345678: another person's number."""
    params = {"oncall": "+4915112345678", "day": "20260101", "sender": "+15555550100"}
    with _native_dag():
        op = campaign_op(
            accounts=[{"firstName": "On", "lastName": "Call", "phone": "{{ params.oncall }}"}],
            title="{{ params.day }}",
            sender_phone="{{ params.sender }}",
            default_region="DE",
        )
    op.render_template_fields({**context, "params": params})
    assert (op.title, op.sender_phone) == ("20260101", "+15555550100")
    http.post(CREATE_URL, json={"id": 8})
    assert op.execute(context) == 8
    body = json.loads(http.calls[0].request.body)
    assert [account["phone"] for account in body["accounts"]] == ["+4915112345678"]
    assert body["title"] == "20260101"


def test_native_rendering_still_gives_a_whole_field_template_its_list(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    with _native_dag():
        op = campaign_op(accounts="{{ params.rows }}")
    op.render_template_fields({**context, "params": {"rows": ACCOUNTS}})
    assert op.accounts.value == ACCOUNTS  # a list, not its text
    http.post(CREATE_URL, json={"id": 9})
    assert op.execute(context) == 9


def test_native_rendering_keeps_an_upload_file_name_text(tmp_path: Path, context: dict[str, Any]) -> None:
    with _native_dag():
        op = CcaiUploadFileOperator(task_id="upload", file_path="{{ params.path }}", file_name="{{ params.name }}")
    op.render_template_fields({**context, "params": {"path": _write(tmp_path, "2026.png", PNG), "name": "20260101"}})
    assert op.file_name == "20260101"


def test_failed_rendering_logs_no_phone_number(
    http: responses.RequestsMock, context: dict[str, Any], logs: CapturedLogs
) -> None:
    """Airflow logs a field's template when rendering fails; for ``accounts`` that would list the phones."""
    from jinja2 import Environment, StrictUndefined, UndefinedError

    accounts = [{**ACCOUNTS[0], "data": {"code": "{{ params.coupon }}"}}, *ACCOUNTS[1:]]
    op = campaign_op(accounts=accounts, title="{{ params.title }}")
    with pytest.raises(UndefinedError, match="coupon"):
        op.render_template_fields({**context, "params": {"title": "Spring"}}, Environment(undefined=StrictUndefined))
    assert op.title == "Spring"  # the other fields rendered as usual
    assert "field 'accounts': UndefinedError" in logs.text
    assert_no_phone(logs.text)
    assert len(http.calls) == 0


def test_mapped_accounts_from_xcom_are_data_not_templates(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], tmp_path: Path
) -> None:
    """
    ``.expand(accounts=upstream.output)``: Airflow passes the ids of values it took from XCom as
    ``seen_oids``, so text an upstream task returned is never rendered (a name with ``{{`` in it, or worse).
    """
    path = tmp_path / "week {{ 7 * 7 }}.csv"
    path.write_text("firstName,lastName,phone\nAda,{{ 7 * 7 }},+15555550101\n")
    title = "Offer {{ ds }}"
    op = campaign_op(accounts=str(path), title=title)
    jinja_env = op.get_template_env()

    op._do_render_template_fields(op, op.template_fields, {**context, "ds": "2026-11-30"}, jinja_env, {id(op.accounts)})

    assert op.accounts.value == str(path)  # not "week 49.csv"
    assert op.title == "Offer 2026-11-30"  # a field from the DAG file renders as usual
    http.post(CREATE_URL, json={"id": 11})
    assert op.execute(context) == 11
    assert json.loads(http.calls[0].request.body)["accounts"][0]["lastName"] == "{{ 7 * 7 }}"


def test_rendered_xcom_text_hides_phone_numbers(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any]
) -> None:
    op = campaign_op(accounts="{{ recipients }}")
    op.render_template_fields({**context, "recipients": ACCOUNTS})
    assert op.accounts.value == str(ACCOUNTS)  # what Jinja makes of an XCom list
    assert_no_phone(str(op.accounts), repr(op.accounts))
    assert str(op.accounts).startswith("<recipients: ")
    assert f"{len(op.accounts.value)} rows" not in str(op.accounts)  # characters are not rows
    http.post(CREATE_URL, json={"id": 6})
    assert op.execute(context) == 6
    assert json.loads(http.calls[0].request.body)["accounts"] == WIRE_ACCOUNTS


def test_rendered_file_path_is_shown(tmp_path: Path) -> None:
    assert str(RenderedRecipients(str(tmp_path / "recipients.csv"))) == str(tmp_path / "recipients.csv")
    assert str(RenderedRecipients("s3://bucket/recipients.csv")) == "s3://bucket/recipients.csv"
    signed = "https://bucket.example/people?X-Amz-Signature=0badc0de&name=recipients.csv"
    assert str(RenderedRecipients(signed)) == "https://bucket.example/people"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(str(ACCOUNTS[0]), id="one dict rendered"),
        pytest.param(str(tuple(tuple(row.values()) for row in ACCOUNTS[:1])), id="tuples rendered"),
        pytest.param(f"Ann Lee {PHONES[0]}", id="free text"),
        pytest.param(f"{PHONES[0]}\n/data/people.csv", id="two lines"),
    ],
)
def test_rendered_text_that_is_not_a_file_is_neither_shown_nor_echoed(
    ccai_conn: dict[str, str], http: responses.RequestsMock, context: dict[str, Any], text: str
) -> None:
    op = campaign_op(accounts="{{ recipients }}")
    op.render_template_fields({**context, "recipients": text})
    assert str(op.accounts) == "<recipients: str, not shown>"

    with pytest.raises(CcaiInputError, match="neither a list of recipients nor one path") as raised:
        op.execute(context)
    assert_no_phone(str(raised.value))
    assert len(http.calls) == 0


class OfferRow(NamedTuple):
    """A SQL row with named columns, one of them not mapped to a CCAI field."""

    firstName: str  # columns named like the wire fields
    lastName: str
    phone: str
    offer: str


@pytest.mark.parametrize(
    ("rows", "options"),
    [
        pytest.param([{**ACCOUNTS[0], "offer": "20% off"}], {}, id="dict rows"),
        pytest.param([OfferRow("Ann", "Lee", PHONES[0], "20% off")], {"column_mapping": {}}, id="named columns"),
    ],
)
def test_message_variable_from_an_ignored_column_fails_before_sending(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    rows: list[Any],
    options: dict[str, Any],
) -> None:
    """``${offer}`` from a column that is not sent would reach every recipient as a blank."""
    op = campaign_op(accounts=rows, message="Hi ${firstName}, ${ offer } this week", **options)
    with pytest.raises(CcaiInputError, match=r"message: uses \$\{offer\}, but column 'offer' is not sent"):
        op.execute(context)
    assert len(http.calls) == 0

    http.post(CREATE_URL, json={"id": 9})
    sent = campaign_op(accounts=rows, message="Hi ${firstName}, ${ offer } this week", unmapped_columns="data")
    assert sent.execute(context) == 9
    assert json.loads(http.calls[0].request.body)["accounts"][0]["data"] == {"offer": "20% off"}


@pytest.mark.parametrize(
    ("rows", "options"),
    [
        pytest.param(
            [{"preferred": "Annie", "firstName": "Ann", "lastName": "Lee", "phone": PHONES[0]}],
            {"column_mapping": {"firstName": "preferred"}},
            id="account field from another column",
        ),
        pytest.param(
            [{**ACCOUNTS[0], "data": {"offer": "20% off"}, "offer": "old"}],
            {},
            id="variable in the row's data",
        ),
    ],
)
def test_message_variables_the_account_defines_are_not_refused(
    ccai_conn: dict[str, str],
    http: responses.RequestsMock,
    context: dict[str, Any],
    rows: list[Any],
    options: dict[str, Any],
) -> None:
    http.post(CREATE_URL, json={"id": 9})
    op = campaign_op(accounts=rows, message="Hi ${firstName}, ${offer} this week", **options)
    assert op.execute(context) == 9
    [account] = json.loads(http.calls[0].request.body)["accounts"]
    if "column_mapping" in options:
        assert account["firstName"] == "Annie"  # the mapped column, not the one named like the field
    else:
        assert account["data"] == {"offer": "20% off"}  # the row's data, not its stray "offer" column


def test_operators_sensor_and_notifier_make_their_hook_on_first_use_and_keep_it(ccai_conn: dict[str, str]) -> None:
    """As in Airflow's own providers: ``.hook`` for subclasses and tests, made lazily, one per task try."""
    from airflow_provider_ccai.notifications.ccai import CcaiNotifier
    from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor

    params = {"hook_params": {"max_attempts": 2}}
    users = [
        CcaiUploadFileOperator(task_id="upload", file_path="offer.png", **params),
        campaign_op(**params),
        CcaiCampaignSensor(task_id="wait", campaign_id=7, **params),
        CcaiNotifier(phones=["+15555550199"], **params),
    ]
    for user in users:
        assert "hook" not in vars(user)  # nothing made when the DAG file is parsed
        hook = user.hook
        assert isinstance(hook, CloudContactHook) and user.hook is hook
        assert (hook.ccai_conn_id, hook.settings.max_attempts) == ("ccai_default", 2)
