"""Reading a file the DAG names: a local path or any ``ObjectStoragePath`` URI (``s3://``, ``gs://``, ``file://``)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_ccai.exceptions import CcaiInputError, CcaiSourceChangedError
from airflow_provider_ccai.utils.redact import signing_secrets, strip_query

#: object-store ``info()`` keys that change when an object is replaced (S3, GCS, Azure, local, memory)
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "VersionId", "LastModified", "mtime", "created")


def is_uri(path: str) -> bool:
    """
    Return whether ``path`` names object storage (``scheme://...``) rather than a local path.

    :param path: a local path or URI.
    """
    return "://" in path


def as_location(path: Any) -> Any:
    """
    Return an ``ObjectStoragePath`` object as its URI text, another ``os.PathLike`` as its path text,
    anything else as it is.

    The URI keeps the path's connection id (``scheme://conn_id@...``); Airflow 3's ``ObjectStoragePath`` is not
    ``os.PathLike``, so the functions here take its text. The class is recognised without importing it.

    :param path: what an operator's path argument rendered to.
    """
    if any(cls.__name__ == "ObjectStoragePath" for cls in type(path).__mro__):
        return str(path)
    return os.fspath(path) if isinstance(path, os.PathLike) else path


def displayable(path: str | os.PathLike[str]) -> str:
    """
    Return ``path`` as it may be shown: a URI without its query string and fragment (a presigned URL's signature).

    :param path: a local path or URI.
    """
    text = os.fspath(path)
    return strip_query(text) if is_uri(text) else text


def shown(path: str | os.PathLike[str]) -> str:
    """
    Return ``path`` quoted for an error message, as :func:`displayable` gives it.

    :param path: a local path or URI.
    """
    return repr(displayable(path))


def _storage_path(path: str, field: str, conn_id: str | None) -> Any:
    """
    Return ``path`` as an ``ObjectStoragePath`` with its filesystem set up (no request to the store yet).

    A scheme that no installed provider registers and nothing attached serves (a typo, or ``s3://``
    without the Amazon provider) fails for good; a retry cannot fix it. Other errors propagate as raised.

    :param path: object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    """
    try:
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.io.fs import has_fs
    except ImportError:  # Airflow 2.11
        from airflow.io import has_fs  # type: ignore[attr-defined,no-redef]
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]

    scheme = path.split("://", 1)[0].lower()
    try:
        urlsplit(path)
    except ValueError as error:  # e.g. an unclosed "[" in the host: no store can serve it, now or on a retry
        raise CcaiInputError(f"{field}: {shown(path)} is not a valid URI ({error})") from None
    try:
        # conn_id=None would replace the connection a "scheme://conn_id@..." URI names (Airflow 2.11)
        storage = ObjectStoragePath(path, **({"conn_id": conn_id} if conn_id else {}))
        storage.fs  # noqa: B018 - resolves the filesystem: a registered or attached one
    except ValueError:
        if has_fs(scheme):  # served, so the error is about this URI or its options: left as it is
            raise
        raise CcaiInputError(
            f"{field}: no installed filesystem serves {scheme!r} URIs such as {shown(path)}; "
            "install the Airflow provider for it"
        ) from None
    return storage


class OpenedSource(NamedTuple):
    """A file opened by :func:`open_source`: the handle, its size and what identified that version of it."""

    handle: IO[bytes]
    size: int
    version: dict[str, Any]


def open_source(path: str, field: str, *, conn_id: str | None = None, max_bytes: int | None = None) -> OpenedSource:
    """
    Open ``path`` for binary reading after checking it is an existing, regular, non-empty file.

    :param path: local path or object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    :param max_bytes: size limit; a larger file fails before it is read.
    """
    if isinstance(path, str) and is_uri(path):
        # a presigned https:// URL's signature (or a password in the URI) may show in a filesystem's error
        from airflow_provider_ccai.version_compat import mask_secret

        for secret in signing_secrets(path):
            mask_secret(secret)
    opener, size, version = _checked_file(path, field, conn_id, max_bytes)
    return OpenedSource(opener(), size, version)


def ensure_unchanged(
    path: str, field: str, *, conn_id: str | None, opened: OpenedSource, bytes_read: int | None = None
) -> None:
    """
    Raise :class:`CcaiSourceChangedError` if ``path`` changed since it was opened or was not read whole.

    A writer that replaced the file meanwhile (an object store's buffered reader can mix the old size
    with the new content) would otherwise hand on bytes of neither version; Airflow retries the error.

    :param path: local path or object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    :param opened: what :func:`open_source` returned.
    :param bytes_read: how many bytes were read from it, if known.
    """
    try:
        _, _, after = _checked_file(path, field, conn_id, None)
        same_version = all(after.get(key) == value for key, value in opened.version.items() if key in after)
    except CcaiInputError:  # there and not empty when opened, so removed or emptied since
        same_version = False
    if (bytes_read is not None and bytes_read != opened.size) or not same_version:
        raise CcaiSourceChangedError(f"{field}: {shown(path)} changed while it was read; a retry reads it again")


def _checked_file(
    path: str, field: str, conn_id: str | None, max_bytes: int | None
) -> tuple[Callable[[], IO[bytes]], int, dict[str, Any]]:
    """Check ``path`` with one stat; return how to open it, its size and what identifies this version of it."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        got = repr(path) if isinstance(path, str) else type(path).__name__  # never a repr of rows it may hold
        raise CcaiInputError(f"{field}: expected a file path or URI, got {got}")
    path = str(path)
    # Only an answer that the file is not there (or not a file) fails for good; any other error (a timeout,
    # throttling, an NFS hiccup) propagates as it is, so that Airflow's retries apply.
    if is_uri(path):
        storage = _storage_path(path, field, conn_id)
        try:
            info = storage.stat()  # one request to a remote store
        except FileNotFoundError:
            raise CcaiInputError(f"{field}: {shown(path)} does not exist") from None
        if info.get("type") != "file":
            raise CcaiInputError(f"{field}: {shown(path)} is not a regular file")
        size = int(info["size"])
        _check_size(path, field, size, max_bytes)
        version = {key: info[key] for key in _VERSION_KEYS if info.get(key) is not None}
        return lambda: storage.open("rb"), size, {"size": size, **version}
    try:
        local = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise CcaiInputError(f"{field}: {shown(path)} does not exist") from None
    except PermissionError:
        raise CcaiInputError(f"{field}: cannot read {shown(path)}: permission denied") from None
    except ValueError:  # a NUL character, which no path can hold
        raise CcaiInputError(f"{field}: {shown(path)} is not a valid path (it holds a NUL character)") from None
    except OSError as error:
        if error.errno not in (errno.ENAMETOOLONG, errno.ELOOP):
            raise  # e.g. EIO on a network mount: retryable
        raise CcaiInputError(f"{field}: {shown(path)} is not a valid path ({os.strerror(error.errno)})") from None
    if not stat.S_ISREG(local.st_mode):
        raise CcaiInputError(f"{field}: {shown(path)} is not a regular file")
    _check_size(path, field, local.st_size, max_bytes)
    version = {"size": local.st_size, "inode": local.st_ino, "mtime": local.st_mtime_ns}

    def open_local() -> IO[bytes]:
        try:
            return open(path, "rb")
        except PermissionError:  # stat() needs only the folder's permission; reading needs the file's
            raise CcaiInputError(f"{field}: cannot read {shown(path)}: permission denied") from None

    return open_local, local.st_size, version


def _check_size(path: str, field: str, size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise CcaiInputError(f"{field}: {shown(path)} is empty")
    if max_bytes is not None and size > max_bytes:
        raise CcaiInputError(f"{field}: {shown(path)} is {size:,} bytes; the limit is {max_bytes:,} bytes")


def read_source(path: str, field: str, *, conn_id: str | None = None, max_bytes: int | None = None) -> bytes:
    """
    Return the bytes of ``path`` (see :func:`open_source`); never reads more than ``max_bytes``.

    The file is checked again after the read (:func:`ensure_unchanged`): bytes of a file that a writer
    replaced meanwhile raise :class:`CcaiSourceChangedError`, which Airflow retries.

    :param path: local path or object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    :param max_bytes: size limit.
    """
    opened = open_source(path, field, conn_id=conn_id, max_bytes=max_bytes)
    with opened.handle:
        content = opened.handle.read(max_bytes + 1 if max_bytes is not None else -1)
    # a file that grew, shrank or emptied after stat() was being written: retryable, not refused
    ensure_unchanged(path, field, conn_id=conn_id, opened=opened, bytes_read=len(content))
    return content
