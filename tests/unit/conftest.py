"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Every request goes to ``responses``; an unregistered URL fails instead of reaching a network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def memory_fs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """
    Register fsspec's in-memory filesystem with Airflow for ``memory://`` (and, to see the connection id
    the operator passes, for ``s3://``); yield the connection ids the filesystem was asked for.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    try:
        from airflow.sdk.io import fs as airflow_fs
        from airflow.sdk.io import store as airflow_store
    except ImportError:  # Airflow 2.11
        import airflow.io as airflow_fs  # type: ignore[no-redef]
        import airflow.io.store as airflow_store  # type: ignore[no-redef]

    conn_ids: list[str | None] = []

    def memory(conn_id: str | None, options: Any = None) -> MemoryFileSystem:
        conn_ids.append(conn_id)
        return MemoryFileSystem()

    filesystems = airflow_fs._register_filesystems()
    monkeypatch.setitem(filesystems, "memory", memory)  # type: ignore[index]
    monkeypatch.setitem(filesystems, "s3", memory)  # type: ignore[index]
    # Airflow keeps one store per protocol and connection: start without those of earlier tests
    monkeypatch.setattr(airflow_store, "_STORE_CACHE", {})
    yield conn_ids
    MemoryFileSystem.store.clear()
