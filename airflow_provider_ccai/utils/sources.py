"""Reading a file the DAG names: a local path or any ``ObjectStoragePath`` URI (``s3://``, ``gs://``, ``file://``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import IO, Any

from airflow_provider_ccai.exceptions import CcaiInputError, CcaiSourceChangedError

#: object-store ``info()`` keys that change when an object is replaced (S3, GCS, Azure, local, memory)
_VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "VersionId", "LastModified", "mtime", "created")


def is_uri(path: str) -> bool:
    """
    Return whether ``path`` names object storage (``scheme://...``) rather than a local path.

    :param path: a local path or URI.
    """
    return "://" in path


def _storage_path(path: str, conn_id: str | None) -> Any:
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # Airflow 2.11
        from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]
    return ObjectStoragePath(path, conn_id=conn_id)


def open_source(
    path: str, field: str, *, conn_id: str | None = None, max_bytes: int | None = None
) -> tuple[IO[bytes], int]:
    """
    Open ``path`` for binary reading after checking it is an existing, regular, non-empty file.

    :param path: local path or object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    :param max_bytes: size limit; a larger file fails before it is read.
    :return: the open file and its size in bytes.
    """
    opener, size, _ = _checked_file(path, field, conn_id, max_bytes)
    return opener(), size


def _checked_file(
    path: str, field: str, conn_id: str | None, max_bytes: int | None
) -> tuple[Callable[[], IO[bytes]], int, dict[str, Any]]:
    """Check ``path`` with one stat; return how to open it, its size and what identifies this version of it."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise CcaiInputError(f"{field}: expected a file path or URI, got {type(path).__name__} {path!r}")
    path = str(path)
    # Only an answer that the file is not there (or not a file) fails for good; any other error (a timeout,
    # throttling, an NFS hiccup) propagates as it is, so that Airflow's retries apply.
    if is_uri(path):
        storage = _storage_path(path, conn_id)
        try:
            info = storage.stat()  # one request to a remote store
        except FileNotFoundError:
            raise CcaiInputError(f"{field}: {path!r} does not exist") from None
        if info.get("type") != "file":
            raise CcaiInputError(f"{field}: {path!r} is not a regular file")
        size = int(info["size"])
        _check_size(path, field, size, max_bytes)
        version = {key: info[key] for key in _VERSION_KEYS if info.get(key) is not None}
        return lambda: storage.open("rb"), size, {"size": size, **version}
    try:
        local = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise CcaiInputError(f"{field}: {path!r} does not exist") from None
    except PermissionError:
        raise CcaiInputError(f"{field}: cannot read {path!r}: permission denied") from None
    if not stat.S_ISREG(local.st_mode):
        raise CcaiInputError(f"{field}: {path!r} is not a regular file")
    _check_size(path, field, local.st_size, max_bytes)
    version = {"size": local.st_size, "inode": local.st_ino, "mtime": local.st_mtime_ns}
    return lambda: open(path, "rb"), local.st_size, version


def _check_size(path: str, field: str, size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise CcaiInputError(f"{field}: {path!r} is empty")
    if max_bytes is not None and size > max_bytes:
        raise CcaiInputError(f"{field}: {path!r} is {size:,} bytes; the limit is {max_bytes:,} bytes")


def read_source(path: str, field: str, *, conn_id: str | None = None, max_bytes: int | None = None) -> bytes:
    """
    Return the bytes of ``path`` (see :func:`open_source`); never reads more than ``max_bytes``.

    The file is checked again after the read: bytes of a file that a writer replaced meanwhile (an object
    store's buffered reader can mix the old size with the new content) raise
    :class:`CcaiSourceChangedError`, which Airflow retries, instead of being returned.

    :param path: local path or object-storage URI.
    :param field: operator argument named in error messages.
    :param conn_id: Airflow connection for the object store, if any.
    :param max_bytes: size limit.
    """
    opener, size, before = _checked_file(path, field, conn_id, max_bytes)
    with opener() as handle:
        content = handle.read(max_bytes + 1 if max_bytes is not None else -1)
    if max_bytes is not None and len(content) > max_bytes:  # the file grew after stat()
        raise CcaiInputError(f"{field}: {path!r} is larger than {max_bytes:,} bytes")
    if not content:
        raise CcaiInputError(f"{field}: {path!r} is empty")
    _, _, after = _checked_file(path, field, conn_id, max_bytes)
    same_version = all(after.get(key) == value for key, value in before.items() if key in after)
    if len(content) != size or not same_version:
        raise CcaiSourceChangedError(f"{field}: {path!r} changed while it was read; a retry reads it again")
    return content
