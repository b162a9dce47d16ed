"""
Unit tests: HTTP mocked with ``responses`` or sent to the sandbox on loopback, no Airflow metadata database.

:func:`capture_logs` collects what the provider logs on both Airflow lines: Airflow 3 sends task and
hook loggers through structlog (``caplog`` never sees them), and Airflow 2.11's ``airflow.task`` logger
may be configured not to propagate to the root logger that ``caplog`` listens on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from typing import Any

import pytest


def replace_memory_objects_when_read(mocker: Any, content: bytes) -> Callable[[], None]:
    """
    Make every read of an object on fsspec's in-memory filesystem first replace it with ``content``, as a
    writer racing the reader would; return a function that makes reads normal again.

    :param mocker: the test's ``mocker`` fixture.
    :param content: what the object holds once the read has begun.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    open_file = MemoryFileSystem._open

    def replaced_on_open(self: Any, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode == "rb":  # pipe_file opens for writing
            MemoryFileSystem().pipe_file(path, content)
        return open_file(self, path, mode, **kwargs)

    mocker.patch.object(MemoryFileSystem, "_open", replaced_on_open)
    return lambda: mocker.patch.object(MemoryFileSystem, "_open", open_file)


def frozen_clock(now: datetime) -> type[datetime]:
    """
    Return a ``datetime`` class whose ``now()`` is always ``now``; patch it over a module's ``datetime``.

    Windows the provider computes from its own clock then stay where the test put them, however long
    the suite has run before the test and however slow the machine is.

    :param now: the aware time ``now()`` returns, in the zone asked for (local and naive without one).
    """

    class RealDatetimeCheck(type):
        def __instancecheck__(cls, instance: object) -> bool:  # ``isinstance(x, datetime)`` keeps its meaning
            return isinstance(instance, datetime)

    class FrozenDatetime(datetime, metaclass=RealDatetimeCheck):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)

    return FrozenDatetime


class CapturedLogs:
    """Every log message emitted while capturing, from stdlib logging and from structlog."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        self.structlog_events: list[dict[str, Any]] = []

    @property
    def messages(self) -> list[str]:
        """One entry per log call: the formatted message (structlog: the whole event dict)."""
        return [record.getMessage() for record in self._caplog.records] + [
            repr(event) for event in self.structlog_events
        ]

    @property
    def text(self) -> str:
        """All messages, with any formatted tracebacks."""
        return "\n".join([self._caplog.text, *(repr(event) for event in self.structlog_events)])


@contextlib.contextmanager
def capture_logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    """Capture every log record at DEBUG level, whichever logging system Airflow routes it through."""
    captured = CapturedLogs(caplog)
    task_logger = logging.getLogger("airflow.task")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="airflow.task")
    own_handler = not task_logger.propagate  # Airflow's logging config may stop it reaching the root
    if own_handler:
        task_logger.addHandler(caplog.handler)
    try:
        try:
            import structlog
            import structlog.testing
        except ImportError:  # Airflow 2.11 does not use structlog
            yield captured
            return
        saved = structlog.get_config()
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
        try:
            with structlog.testing.capture_logs() as events:
                captured.structlog_events = events
                yield captured
        finally:
            structlog.configure(**saved)
    finally:
        if own_handler:
            task_logger.removeHandler(caplog.handler)
