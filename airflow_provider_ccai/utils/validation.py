"""Checks of rendered template fields shared by the operators and the notifier."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_ccai.exceptions import CcaiInputError


def required_text(value: Any, field: str) -> str:
    """
    Return ``value`` if it is a non-blank string, else fail naming ``field``.

    :param value: the rendered field.
    :param field: argument name used in the error.
    """
    if not isinstance(value, str):
        raise CcaiInputError(f"{field}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise CcaiInputError(f"{field}: must not be empty")
    return value


def check_recipient_options(on_invalid: Any, unmapped_columns: Any) -> None:
    """
    Fail naming the argument unless ``on_invalid`` is ``"fail"`` or ``"skip"`` and ``unmapped_columns`` is
    ``"ignore"`` or ``"data"``.

    :param on_invalid: what to do with an invalid recipient row.
    :param unmapped_columns: what to do with columns ``column_mapping`` does not name.
    """
    if on_invalid not in ("fail", "skip"):
        raise CcaiInputError(f"on_invalid: expected 'fail' or 'skip', got {on_invalid!r}")
    if unmapped_columns not in ("ignore", "data"):
        raise CcaiInputError(f"unmapped_columns: expected 'ignore' or 'data', got {unmapped_columns!r}")


#: The keyword arguments of ``CloudContactHook`` that ``hook_params`` may set (all numbers).
HOOK_ARGUMENTS = ("timeout", "connect_timeout", "max_attempts", "backoff_initial", "backoff_max")
#: Those of them that may be ``None``: the hook then reads the connection's extra, or its default.
_FROM_CONNECTION_WHEN_NONE = ("timeout", "connect_timeout", "max_attempts")
#: Largest values the hook accepts, from any source (the connection form allows less): a day-long timeout
#: or hour-long backoff is already a mistake, and ``1e10`` seconds overflows the socket layer.
LARGEST = {
    "timeout": 86_400,
    "connect_timeout": 86_400,
    "max_attempts": 100,
    "backoff_initial": 3600,
    "backoff_max": 3600,
}
#: Longest rendered text parsed as a Python literal (about 10,000 recipients); JSON has no limit.
PYTHON_LITERAL_LIMIT = 1_000_000


def hook_argument_problem(name: str, value: Any) -> str | None:
    """
    Return what is wrong with ``value`` as the ``CloudContactHook`` argument ``name``, or ``None`` if it fits.

    Timeouts must be above 0, ``max_attempts`` a whole number of at least 1 (these three may be ``None``: the
    connection's extra or the default then applies), the backoff values 0 or more; none above :data:`LARGEST`.

    :param name: one of :data:`HOOK_ARGUMENTS`.
    :param value: the value given for it.
    """
    if value is None and name in _FROM_CONNECTION_WHEN_NONE:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"expected a number, got {repr(value) if isinstance(value, float) else type(value).__name__}"
    if name == "max_attempts" and (value < 1 or value != int(value)):
        return f"expected a whole number of 1 or more, got {value!r}"
    if name.startswith("backoff_") and value < 0:
        return f"expected 0 or more seconds, got {value!r}"
    if name.endswith("timeout") and value <= 0:
        return f"expected more than 0 seconds, got {value!r}"
    if value > LARGEST[name]:
        return f"expected at most {LARGEST[name]}, got {value!r}"
    return None


def checked_hook_params(hook_params: Any) -> dict[str, Any]:
    """
    Return a copy of ``hook_params`` if it maps hook argument names to fitting numbers, else fail naming it.

    Checked before a hook is built, so a typo fails the task without retries and names ``hook_params``
    (see :func:`hook_argument_problem` for what fits).

    :param hook_params: the ``hook_params`` argument of an operator, sensor, trigger or notifier; ``None``
        means ``{}``.
    """
    if hook_params is None:
        return {}
    if not isinstance(hook_params, Mapping):
        raise CcaiInputError(
            'hook_params: expected a dict of names to numbers (e.g. {"timeout": 60, "max_attempts": 3}), '
            f"got {type(hook_params).__name__}"
        )
    for name, value in hook_params.items():
        if name not in HOOK_ARGUMENTS:
            raise CcaiInputError(f"hook_params: unknown argument {name!r}; expected any of {list(HOOK_ARGUMENTS)}")
        problem = hook_argument_problem(name, value)
        if problem:
            raise CcaiInputError(f"hook_params[{name!r}]: {problem}")
    return dict(hook_params)


#: ISO 8601's extended format: a date, then optionally a time of hours[:minutes[:seconds[.fraction]]] and a zone
_ISO_DATE_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


def parse_iso_datetime(text: str) -> datetime:
    """
    Parse an ISO 8601 date-time the same way on every supported Python.

    The extended format only (``2026-12-01T15:00:00Z``, not ``20261201T150000Z``), which Python 3.10's
    ``datetime.fromisoformat`` reads once normalised: it takes no ``Z``, no zone of hours alone (``-05``)
    and no fraction of other than 3 or 6 digits (``...:03.5Z``), all of which CCAI and users write.

    :param text: e.g. ``2026-12-01T15:00:00Z`` or ``2024-09-19T11:52:31.981314Z``.
    :raises ValueError: when ``text`` is not an ISO 8601 date-time.
    """
    match = _ISO_DATE_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"Invalid isoformat string: {text!r}")
    if match["hour"] is None:
        return datetime.fromisoformat(match["date"])
    fraction = f".{match['fraction'][:6]:0<6}" if match["fraction"] else ""
    zone = match["zone"] or ""
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif zone:
        zone = f"{zone[:3]}:{zone.replace(':', '')[3:] or '00'}"
    minute, second = match["minute"] or "00", match["second"] or "00"
    return datetime.fromisoformat(f"{match['date']}T{match['hour']}:{minute}:{second}{fraction}{zone}")


def parse_list_literal(text: str, field: str) -> list[Any]:
    """
    Parse a list that Jinja rendered to text: JSON, or the Python literal that ``xcom_pull`` renders to.

    :param text: rendered text starting with ``[``.
    :param field: argument name used in the error.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        if len(text) > PYTHON_LITERAL_LIMIT:  # ast builds a syntax tree of about 100 times the text's size
            raise CcaiInputError(
                f"{field}: rendered text is {len(text) / 1e6:.1f} MB of Python literal, more than can be parsed "
                f"safely; pass the upstream task's .output instead of a template string, or render JSON "
                "with the tojson filter"
            ) from None
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: [{[1]: 2}]
            raise CcaiInputError(
                f"{field}: rendered text looks like a list but is neither JSON nor a Python list"
            ) from None
    if not isinstance(value, list):
        raise CcaiInputError(f"{field}: expected a list, got {type(value).__name__}")
    return value


def scheduled_at(timestamp: Any, zone: Any) -> datetime | None:
    """
    Return the scheduled time in UTC, or ``None`` to send now; raise naming the field if it does not parse.

    :param timestamp: ``scheduled_timestamp``: ISO 8601 text or a datetime.
    :param zone: ``scheduled_timezone``: the IANA zone of a timestamp without a UTC offset.
    """
    if timestamp in (None, ""):
        if zone not in (None, ""):
            raise CcaiInputError("scheduled_timezone: given without scheduled_timestamp")
        return None
    tz = None
    if zone not in (None, ""):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            tz = ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("US"), a name too long
            raise CcaiInputError(f"scheduled_timezone: {zone!r} is not a known time zone id") from None
    if isinstance(timestamp, datetime):
        when = timestamp
    elif isinstance(timestamp, str):
        try:
            when = parse_iso_datetime(timestamp)
        except ValueError:
            raise CcaiInputError(
                f"scheduled_timestamp: {timestamp!r} is not an ISO 8601 date-time (e.g. 2026-12-01T15:00:00Z)"
            ) from None
    else:
        raise CcaiInputError(
            f"scheduled_timestamp: expected ISO 8601 text or a datetime, got {type(timestamp).__name__}"
        )
    if when.tzinfo is None:
        if tz is None:
            raise CcaiInputError("scheduled_timestamp: has no UTC offset; add one (e.g. 'Z') or set scheduled_timezone")
        when = when.replace(tzinfo=tz)
        if when.replace(fold=0).utcoffset() != when.replace(fold=1).utcoffset():
            raise CcaiInputError(
                f"scheduled_timestamp: {timestamp!r} falls in a daylight-saving change in {zone} (the clock skips "
                "it or shows it twice); give it a UTC offset"
            )
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        raise CcaiInputError(f"scheduled_timestamp: {timestamp!r} is out of range") from None
