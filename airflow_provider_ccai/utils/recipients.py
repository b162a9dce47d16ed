"""
Turning recipient rows into CCAI ``accounts``: validated, normalised to E.164, de-duplicated, serialised.

Rows may be dicts (an upstream task's return value, JSON), tuples (SQL rows) or CSV/JSON/JSON Lines
files. The accounts are written straight into the request body as JSON, row by row, so a million
recipients cost little more memory than the body itself. Error messages name the row and the field,
never the phone number or name.
"""

from __future__ import annotations

import csv
import io
import json
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from airflow_provider_ccai.exceptions import CcaiInputError

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Wire field -> names accepted for it when no ``column_mapping`` says otherwise.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "firstName": ("firstName", "first_name"),
    "lastName": ("lastName", "last_name"),
    "phone": ("phone",),
    "data": ("data",),
    "messageData": ("messageData", "message_data"),
}
WIRE_FIELDS = tuple(DEFAULT_COLUMNS)

OnInvalid = Literal["fail", "skip"]
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


@dataclass
class RecipientReport:
    """What :func:`write_accounts` did: how many accounts it wrote and which rows it skipped (and why)."""

    count: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: set[str] = field(default_factory=set)


class _PhoneSet:
    """An open-addressing set of E.164 numbers as int64 (16 bytes a slot), remembering each one's row."""

    def __init__(self) -> None:
        self._numbers = array("q", bytes(8 * 1024))
        self._rows = array("q", bytes(8 * 1024))
        self._size = 0

    def add(self, phone: str, row: int) -> int | None:
        """Add ``phone``; return the row that already had it, or ``None``."""
        number = int(phone[1:])
        numbers = self._numbers
        mask = len(numbers) - 1
        slot = (number * 0x9E3779B97F4A7C15 >> 20) & mask
        while numbers[slot]:
            if numbers[slot] == number:
                return self._rows[slot]
            slot = (slot + 1) & mask
        numbers[slot] = number
        self._rows[slot] = row
        self._size += 1
        if self._size * 2 > len(numbers):
            self._grow()
        return None

    def _grow(self) -> None:
        old = [(n, r) for n, r in zip(self._numbers, self._rows, strict=True) if n]
        self._numbers = array("q", bytes(16 * len(self._numbers)))
        self._rows = array("q", bytes(8 * len(self._numbers)))
        self._size = 0
        for number, row in old:
            self.add("+" + str(number), row)


class _PhoneNormaliser:
    """E.164 strings pass on a regex; anything else is parsed by ``phonenumbers`` (imported on first need)."""

    def __init__(self, default_region: str | None) -> None:
        self.default_region = default_region.upper() if default_region else None
        self._phonenumbers: Any = None

    def __call__(self, value: Any) -> str:
        """Return ``value`` as E.164 or raise ``ValueError`` saying why (without echoing the number)."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        text = str(value).strip()
        if E164.fullmatch(text):
            return text
        if not text:
            raise ValueError("is empty")
        if not text.startswith("+") and self.default_region is None:
            raise ValueError(
                "is not in E.164 format (+<country code><number>); set default_region to accept national numbers"
            )
        if self._phonenumbers is None:
            import phonenumbers

            self._phonenumbers = phonenumbers
        phonenumbers = self._phonenumbers
        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else self.default_region)
        except phonenumbers.NumberParseException:
            raise ValueError("is not a phone number") from None
        if not phonenumbers.is_valid_number(parsed):
            raise ValueError("is not a valid phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class _RowReader:
    """Pull the wire fields out of one row according to ``column_mapping``."""

    def __init__(self, column_mapping: Mapping[str, str | int] | None, unmapped_columns: str) -> None:
        mapping = dict(column_mapping or {})
        unknown = set(mapping) - set(WIRE_FIELDS)
        if unknown:
            raise CcaiInputError(
                f"column_mapping: unknown field(s) {sorted(unknown)}; map any of {list(WIRE_FIELDS)}"
            )
        self.sources: dict[str, tuple[str | int, ...]] = {
            wire: (mapping[wire],) if wire in mapping else DEFAULT_COLUMNS[wire] for wire in WIRE_FIELDS
        }
        self.used_names = {name for names in self.sources.values() for name in names}
        self.unmapped_to_data = unmapped_columns == "data"

    def read(self, row: Any, number: int, report: RecipientReport) -> dict[str, Any]:
        if isinstance(row, Mapping):
            values = {wire: _first(row, names) for wire, names in self.sources.items()}
            extra = [key for key in row if key not in self.used_names]
            if extra:
                if self.unmapped_to_data:
                    data = (
                        dict(values["data"] or {}) if isinstance(values["data"], Mapping) else values["data"]
                    )
                    if isinstance(data, dict):
                        for key in extra:
                            data.setdefault(str(key), row[key])
                    values["data"] = data
                else:
                    report.ignored_columns.update(str(key) for key in extra)
            return values
        if isinstance(row, (list, tuple)):
            values = {}
            for wire, names in self.sources.items():
                position = next((name for name in names if isinstance(name, int)), None)
                values[wire] = row[position] if position is not None and position < len(row) else None
            if values["phone"] is None and not any(isinstance(n, int) for n in self.sources["phone"]):
                raise CcaiInputError(
                    f"accounts row {number}: rows are tuples; give column_mapping with positions, "
                    'e.g. {"phone": 0, "firstName": 1, "lastName": 2}'
                )
            return values
        raise CcaiInputError(
            f"accounts row {number}: expected an object or a tuple, got {type(row).__name__}"
        )


def _first(row: Mapping[Any, Any], names: tuple[str | int, ...]) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None


def _text(value: Any, field_name: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(f"{field_name}: missing or empty")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{field_name}: expected a string, got {type(value).__name__}")
    return str(value).strip()


def _account_json(values: dict[str, Any], phone: str) -> str:
    """Validate the non-phone fields of one row and return its JSON object."""
    first_name = _text(values["firstName"], "firstName", required=True)
    last_name = _text(values["lastName"], "lastName", required=True)
    parts = [
        '{"firstName":',
        _encode_string(first_name),
        ',"lastName":',
        _encode_string(last_name),
        ',"phone":"',
        phone,
        '"',
    ]
    data = values["data"]
    if data not in (None, {}):
        if not isinstance(data, Mapping):
            raise ValueError(f"data: expected an object of variables, got {type(data).__name__}")
        encoded = []
        for key, value in data.items():
            if not isinstance(key, str) or not VARIABLE_NAME.fullmatch(key):
                raise ValueError(
                    f"data: variable name {str(key)[:40]!r} must be letters, digits and underscores"
                )
            if value is None:
                value = ""
            if isinstance(value, (dict, list, tuple, set)):
                raise ValueError(f"data.{key}: expected a string, got {type(value).__name__}")
            encoded.append(_encode_string(key) + ":" + _encode_string(str(value)))
        parts += [',"data":{', ",".join(encoded), "}"]
    message_data = values["messageData"]
    if message_data is not None:
        if not isinstance(message_data, str):
            message_data = json.dumps(message_data, separators=(",", ":"), default=str)
        parts += [',"messageData":', _encode_string(message_data)]
    parts.append("}")
    return "".join(parts)


def write_accounts(
    rows: Iterable[Any],
    out: IO[bytes],
    *,
    column_mapping: Mapping[str, str | int] | None = None,
    default_region: str | None = None,
    on_invalid: OnInvalid = "fail",
    unmapped_columns: str = "ignore",
) -> RecipientReport:
    """
    Validate ``rows`` and write them to ``out`` as a JSON array of CCAI accounts.

    :param rows: dicts or tuples, one per recipient.
    :param out: binary stream the JSON array is written to.
    :param column_mapping: wire field (``firstName``, ``lastName``, ``phone``, ``data``, ``messageData``)
        -> column name (dict rows, files) or position (tuple rows).
    :param default_region: ISO country code used to parse national numbers (``"US"``); ``None``
        accepts E.164 only.
    :param on_invalid: ``"fail"`` raises on the first invalid or duplicate row; ``"skip"`` leaves it out
        and reports its number.
    :param unmapped_columns: ``"ignore"`` or ``"data"`` (columns not mapped become ``${variables}``).
    :return: the count of accounts written and the rows skipped.
    """
    if on_invalid not in ("fail", "skip"):
        raise CcaiInputError(f"on_invalid: expected 'fail' or 'skip', got {on_invalid!r}")
    if unmapped_columns not in ("ignore", "data"):
        raise CcaiInputError(f"unmapped_columns: expected 'ignore' or 'data', got {unmapped_columns!r}")
    reader = _RowReader(column_mapping, unmapped_columns)
    normalise = _PhoneNormaliser(default_region)
    seen = _PhoneSet()
    report = RecipientReport()
    write = out.write
    write(b"[")
    for number, row in enumerate(rows, start=1):
        try:
            values = reader.read(row, number, report)
            try:
                phone = normalise(values["phone"])
            except ValueError as error:
                raise ValueError(f"phone: {error}") from None
            account = _account_json(values, phone)
            earlier = seen.add(phone, number)
            if earlier is not None:
                raise ValueError(f"phone: duplicate of row {earlier}")
        except ValueError as error:
            if on_invalid == "fail":
                raise CcaiInputError(f"accounts row {number} ({error}); nothing was sent") from None
            report.skipped.append((number, str(error)))
            continue
        write(b"," if report.count else b"")
        write(account.encode())
        report.count += 1
    write(b"]")
    if report.count == 0:
        detail = f" ({len(report.skipped)} invalid rows skipped)" if report.skipped else ""
        raise CcaiInputError(f"accounts: no recipients{detail}; nothing was sent")
    return report


def rows_from_file(handle: IO[bytes], name: str) -> Iterator[Any]:
    """
    Yield rows from a CSV (header line), JSON (array of objects) or JSON Lines file, chosen by ``name``.

    :param handle: the open file.
    :param name: its path or URI; ``.csv``, ``.json``, ``.jsonl``/``.ndjson`` (optionally ``.gz``-less).
    """
    lower = name.lower()
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    if lower.endswith(".csv"):
        yield from csv.DictReader(text)
    elif lower.endswith((".jsonl", ".ndjson")):
        for number, line in enumerate(text, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise CcaiInputError(f"accounts line {number}: not valid JSON") from None
    elif lower.endswith(".json"):
        try:
            data = json.load(text)
        except ValueError:
            raise CcaiInputError(f"accounts: {name!r} is not valid JSON") from None
        if not isinstance(data, list):
            raise CcaiInputError(f"accounts: {name!r} must hold a JSON array of objects")
        yield from data
    else:
        raise CcaiInputError(f"accounts: {name!r} is not a .csv, .json, .jsonl or .ndjson file")
