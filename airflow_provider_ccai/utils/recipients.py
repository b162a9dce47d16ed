"""
Turning recipient rows into CCAI ``accounts``: validated, normalised to E.164, de-duplicated, serialised.

Rows may be dicts (an upstream task's return value, JSON), tuples (SQL rows; named tuples too) or the
rows of a CSV/JSON/JSON Lines file. The accounts are written straight into the request body, row by
row, so a million recipients cost little more memory than the body itself (see docs/performance.md).

Rows are numbered from 1 in the order given; a CSV header, blank lines and lines of blank cells are not counted. Error
messages name the row and the field, never the phone number or name.

``phonenumbers`` is imported only when a number is not already in E.164 form, so importing this module
(or the operators) stays cheap.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import IO, Any, Literal, NamedTuple

from airflow_provider_ccai.exceptions import CcaiInputError
from airflow_provider_ccai.utils.sources import ensure_unchanged, open_source, shown
from airflow_provider_ccai.utils.validation import check_recipient_options

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A ``${name}`` variable in a message; CCAI fills it from the account's fields or its ``data``.
VARIABLE_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The files ``accounts`` may name, by suffix (any case).
RECIPIENT_FILE_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson")

#: Wire field -> names accepted for it when no ``column_mapping`` says otherwise.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "firstName": ("firstName", "first_name"),
    "lastName": ("lastName", "last_name"),
    "phone": ("phone",),
    "data": ("data",),
    "messageData": ("messageData", "message_data"),
}
WIRE_FIELDS = tuple(DEFAULT_COLUMNS)
REQUIRED_FIELDS = ("firstName", "lastName", "phone")

OnInvalid = Literal["fail", "skip"]
UnmappedColumns = Literal["ignore", "data"]
#: JSON string literal of a ``str`` (the C encoder ``json.dumps`` uses; non-ASCII escaped as ``\\uXXXX``).
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
#: Accounts are encoded and written in batches of this many.
_BATCH = 2048


@dataclass
class RecipientReport:
    """
    What :func:`write_accounts` did: how many accounts it wrote and which rows it skipped (and why).

    :param count: accounts written.
    :param skipped: (row number, reason) of each row left out with ``on_invalid="skip"``.
    :param ignored_columns: names of the columns that were not sent (``unmapped_columns="ignore"``).
    """

    count: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: set[str] = field(default_factory=set)


class CampaignRequest(NamedTuple):
    """A validated ``campaigns/direct`` request: the JSON body, its recipient count and the scheduled time."""

    body: bytes
    recipient_count: int
    scheduled_at: datetime | None


class _InvalidRow(ValueError):
    """One row is invalid; the message starts with the field (``"phone: ..."``) and never holds the value."""


# -- phone numbers -----------------------------------------------------------------------------------


class _PhoneSet:
    """
    The E.164 numbers seen so far, each with the row it came from.

    An open-addressing hash table (linear probing, at most half full) of int64 numbers and int32 row
    numbers: 12 bytes a slot, 24 to 48 bytes a number, where a ``dict`` of strings would take well over 100.
    """

    #: 2**64 / golden ratio; the product's middle bits spread out numbers that share their last digits.
    _MULTIPLIER = 0x9E3779B97F4A7C15

    def __init__(self, expected: int = 0) -> None:
        self._allocate(max(10, (2 * expected).bit_length()))

    def _allocate(self, bits: int) -> None:
        # array * n fills in place; array(bytes(...)) would first build a temporary as big as the table
        self._numbers = array("q", [0]) * (1 << bits)
        self._rows = array("i", [0]) * (1 << bits)
        self._mask = (1 << bits) - 1
        self._limit = 1 << (bits - 1)
        self._size = 0
        self._bits = bits

    def add(self, phone: str, row: int) -> int:
        """Add ``phone`` (E.164) seen in ``row`` (>= 1); return the earlier row that had it, or 0."""
        number = int(phone)
        numbers = self._numbers
        mask = self._mask
        slot = (number * self._MULTIPLIER >> 24) & mask
        found = numbers[slot]
        while found:
            if found == number:
                return self._rows[slot]
            slot = (slot + 1) & mask
            found = numbers[slot]
        numbers[slot] = number
        self._rows[slot] = row
        self._size += 1
        if self._size > self._limit:
            self._grow()
        return 0

    def _grow(self) -> None:
        old_numbers, old_rows, size = self._numbers, self._rows, self._size
        self._allocate(self._bits + 1)
        self._size = size
        numbers, rows, mask = self._numbers, self._rows, self._mask
        for number, row in zip(old_numbers, old_rows, strict=True):
            if number:
                slot = (number * self._MULTIPLIER >> 24) & mask
                while numbers[slot]:
                    slot = (slot + 1) & mask
                numbers[slot] = number
                rows[slot] = row


class _PhoneNormaliser:
    """E.164 strings pass on a regex; anything else is parsed by ``phonenumbers`` (imported on first need)."""

    def __init__(self, default_region: str | None) -> None:
        if default_region is not None and not isinstance(default_region, str):
            raise CcaiInputError(
                f"default_region: expected a region code such as 'US', got {type(default_region).__name__}"
            )
        self.default_region = default_region.strip().upper() if default_region else None
        self._phonenumbers: Any = None
        self._is_e164 = E164.fullmatch
        if self.default_region is not None and self.default_region not in self._library().SUPPORTED_REGIONS:
            raise CcaiInputError(
                f"default_region: {default_region!r} is not a region code phonenumbers knows (e.g. 'US', 'GB')"
            )

    def _library(self) -> Any:
        if self._phonenumbers is None:
            import phonenumbers

            self._phonenumbers = phonenumbers
        return self._phonenumbers

    def normalise(self, value: Any) -> str:
        """Return ``value`` as E.164 or raise :class:`_InvalidRow` saying why (without echoing it)."""
        if type(value) is str and self._is_e164(value):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            if value is None:
                raise _InvalidRow("phone: missing")
            raise _InvalidRow(f"phone: expected a string, got {type(value).__name__}")
        try:
            text = str(value).strip()
        except ValueError:  # an int of more than 4300 digits, which Python will not turn into text
            raise _InvalidRow("phone: not a phone number") from None
        if self._is_e164(text):
            return text
        if not text:
            raise _InvalidRow("phone: missing or empty")
        if any(char.isalpha() for char in text):  # phonenumbers reads letters as keypad digits: someone else
            raise _InvalidRow("phone: contains letters")
        if not text.startswith("+") and self.default_region is None:
            raise _InvalidRow(
                "phone: not in E.164 format (+<country code><number>); set default_region to accept national numbers"
            )
        phonenumbers = self._library()
        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else self.default_region)
        except phonenumbers.NumberParseException:
            raise _InvalidRow("phone: not a phone number") from None
        if not phonenumbers.is_valid_number(parsed):
            raise _InvalidRow("phone: not a valid phone number")
        if parsed.extension:
            raise _InvalidRow("phone: has an extension, which a text message cannot reach")
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# -- the fields of one account -------------------------------------------------------------------------


def _name(value: Any, field_name: str) -> str:
    """Return a required name as a JSON string literal."""
    if type(value) is str:
        text = value.strip()
    elif value is None or _not_a_number(value):
        text = ""
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
    else:
        raise _InvalidRow(f"{field_name}: expected a string, got {type(value).__name__}")
    if not text:
        raise _InvalidRow(f"{field_name}: missing or empty")
    return _quote(text)


def _not_a_number(value: Any) -> bool:
    """Whether ``value`` is a float NaN: how pandas (``to_dict``) and JSON's ``NaN`` spell a missing value."""
    return isinstance(value, float) and value != value


def _variable(value: Any, key: str) -> str:
    """Return a ``data`` value as a JSON string literal (CCAI variables are text; ``None`` is empty)."""
    if type(value) is str:
        return _quote(value)
    if value is None or _not_a_number(value):
        return '""'
    if isinstance(value, (Mapping, list, tuple, set)):
        raise _InvalidRow(f"data.{key}: expected a string, got {type(value).__name__}")
    return _quote(str(value))


@functools.lru_cache(maxsize=1024)
def _variable_key(key: Any) -> str:
    """Return ``"key":`` for a valid variable name."""
    if not isinstance(key, str) or not VARIABLE_NAME.fullmatch(key):
        # A name with digits is not echoed: it may be a phone number put where a name belongs.
        named = repr(key[:40]) if isinstance(key, str) and not any(char.isdigit() for char in key) else ""
        raise _InvalidRow(
            f"data: variable name {named or '(not shown: it holds digits)'} must be letters, digits and underscores"
        )
    return _quote(key) + ":"


def _variables(data: Any) -> Mapping[Any, Any]:
    """Return a row's own ``data`` object (``{}`` if it has none, e.g. an empty CSV cell), checked to be an object."""
    if data is None or data == {} or data == "" or _not_a_number(data):
        return {}
    if not isinstance(data, Mapping):
        raise _InvalidRow(f"data: expected an object of variables, got {type(data).__name__}")
    return data


def _tail(variables: list[str], message_data: Any) -> str:
    """Return the optional end of an account: ``,"data":{...}`` and ``,"messageData":"..."``."""
    tail = ',"data":{' + ",".join(variables) + "}" if variables else ""
    if message_data is None or message_data == "" or _not_a_number(message_data):
        return tail
    if not isinstance(message_data, str):
        try:
            message_data = json.dumps(message_data, separators=(",", ":"), default=str)
        except (TypeError, ValueError, RecursionError) as error:  # e.g. a key that is a tuple; a loop
            raise _InvalidRow(f"messageData: cannot be written as JSON ({type(error).__name__})") from None
    return tail + ',"messageData":' + _quote(message_data)


def is_recipients_file(text: str) -> bool:
    """
    Return whether ``text`` reads as the path or URI of a recipients file: one line with a known suffix.

    :param text: what ``accounts`` rendered to.
    """
    return "\n" not in text and text.strip().lower().endswith(RECIPIENT_FILE_SUFFIXES)


def _check_recipients_file(name: str) -> None:
    """Raise unless ``name`` is the path or URI of a recipients file (see :func:`is_recipients_file`)."""
    if not is_recipients_file(name):
        raise CcaiInputError(f"accounts: {shown(name)} is not a .csv, .json, .jsonl or .ndjson file")


def message_variables(message: str) -> set[str]:
    """
    Return the names of the ``${name}`` variables in ``message``.

    :param message: the campaign message.
    """
    return set(VARIABLE_REFERENCE.findall(message))


def _looks_like_phone(cell: str) -> bool:
    """
    Return whether a CSV header cell is a phone number (7-15 digits and no letters), not a column name.

    Any punctuation counts, as ``phonenumbers`` reads ``030/1234567``, ``415–555–0101`` or ``＋1 415...``;
    a date (``2024-06-01``) does not.
    """
    text = cell.strip()
    digits = sum(char.isdigit() for char in text)
    return 7 <= digits <= 15 and not any(char.isalpha() for char in text) and _ISO_DATE.match(text) is None


# -- reading rows of one shape -----------------------------------------------------------------------

#: A row reader returns the raw first name, last name and phone and the encoded optional tail.
_Reader = Callable[[Any], "tuple[Any, Any, Any, str]"]


class _MappingReader:
    """Read dict rows by key: ``column_mapping`` names, else the default camelCase/snake_case keys."""

    def __init__(self, sources: dict[str, tuple[str, ...]], unmapped_to_data: bool, report: RecipientReport):
        self._sources = [sources[wire] for wire in WIRE_FIELDS]
        self._used = {name for names in sources.values() for name in names}
        self._unmapped_to_data = unmapped_to_data
        self._report = report

    def read(self, row: Mapping[Any, Any]) -> tuple[Any, Any, Any, str]:
        first, last, phone, data, message_data = (_first(row, names) for names in self._sources)
        data = _variables(data)
        extra = [key for key in row if key not in self._used]
        if extra and not self._unmapped_to_data:
            self._report.ignored_columns.update(str(key) for key in extra if key not in data)
            extra = []
        variables = [_variable_key(key) + _variable(value, key) for key, value in data.items()]
        variables += [_variable_key(key) + _variable(row[key], key) for key in extra if key not in data]
        return first, last, phone, _tail(variables, message_data)


def _first(row: Mapping[Any, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None


class _SequenceReader:
    """
    Read list/tuple rows by position: SQL rows with ``column_mapping`` positions, or CSV rows by header.

    :param positions: wire field -> position; ``data`` here is a cell holding an object of variables.
    :param data_columns: (position, name) of the columns sent as variables (``unmapped_columns="data"``).
    :param width: the header's number of columns, which every row must have; ``None`` for positions only.
    """

    def __init__(self, positions: dict[str, int], data_columns: list[tuple[int, str]], width: int | None) -> None:
        self._cells = itemgetter(*(positions[wire] for wire in REQUIRED_FIELDS), *(i for i, _ in data_columns))
        self._data = positions.get("data")
        self._message_data = positions.get("messageData")
        self._width = width
        self._variables = [(_variable_key(name), name) for _, name in data_columns]
        # A CSV's variables are all text: one format string makes the whole "data" object.
        keys = ",".join(key + "%s" for key, _ in self._variables)
        self._text_variables = f',"data":{{{keys}}}' if keys else ""

    def read(self, row: Sequence[Any]) -> tuple[Any, Any, Any, str]:
        if self._width is not None and len(row) != self._width:  # a shifted row would send the wrong cells
            raise _InvalidRow(f"row: has {len(row)} fields, the header has {self._width}")
        try:
            first, last, phone, *cells = self._cells(row)
            data = _variables(row[self._data]) if self._data is not None else {}
            message_data = row[self._message_data] if self._message_data is not None else None
        except IndexError:
            raise _InvalidRow(f"row: has only {len(row)} fields") from None
        if not data and message_data is None:
            try:
                return first, last, phone, self._text_variables % tuple(map(_quote, cells))
            except TypeError:  # a cell that is not text: encode them one by one below
                pass
        variables = [_variable_key(key) + _variable(value, key) for key, value in data.items()]
        variables += [
            key + _variable(cell, name)
            for (key, name), cell in zip(self._variables, cells, strict=True)
            if name not in data
        ]
        return first, last, phone, _tail(variables, message_data)


class _Layout:
    """Where the wire fields are in rows of each shape, from ``column_mapping`` and the options."""

    def __init__(
        self,
        column_mapping: Mapping[str, str | int] | None,
        columns: Sequence[str] | None,
        unmapped_to_data: bool,
        report: RecipientReport,
    ) -> None:
        if column_mapping is not None and not isinstance(column_mapping, Mapping):
            raise CcaiInputError(
                f"column_mapping: expected a dict of CCAI field to column (e.g. {{'phone': 'mobile'}}), "
                f"got {type(column_mapping).__name__}"
            )
        mapping = dict(column_mapping or {})
        unknown = set(mapping) - set(WIRE_FIELDS)
        if unknown:
            raise CcaiInputError(
                f"column_mapping: unknown field(s) {sorted(unknown, key=str)}; map any of {list(WIRE_FIELDS)}"
            )
        for wire, source in mapping.items():
            if isinstance(source, bool) or not isinstance(source, (str, int)) or source == "":
                raise CcaiInputError(
                    f"column_mapping: {wire} -> {source!r}; expected a column name or a position (0, 1, ...)"
                )
            if isinstance(source, int) and source < 0:
                raise CcaiInputError(f"column_mapping: {wire} -> {source}; positions start at 0")
        self.sources: dict[str, tuple[str | int, ...]] = {
            wire: (mapping[wire],) if wire in mapping else DEFAULT_COLUMNS[wire] for wire in WIRE_FIELDS
        }
        self.columns = list(columns) if columns is not None else None
        self.unmapped_to_data = unmapped_to_data
        self.report = report
        self._kind: str | None = None
        self._read: _Reader | None = None

    def reader_for(self, row: Any) -> _Reader:
        """
        Return the reader for ``row``: the first valid row decides between objects and tuples for all.

        A later row of the other kind (a JSON array line among objects) is an invalid row; options that
        cannot apply to the first one's kind raise :class:`CcaiInputError`.
        """
        if isinstance(row, _UnreadableLine):
            raise _InvalidRow("row: not valid JSON")
        kind = "an object" if isinstance(row, Mapping) else "a tuple" if isinstance(row, (list, tuple)) else None
        if kind is None:
            raise _InvalidRow(f"row: expected an object or a tuple, got {type(row).__name__}")
        if self._read is not None:
            if kind != self._kind:
                raise _InvalidRow(f"row: expected {self._kind} like the rows before it, got {type(row).__name__}")
            return self._read
        if isinstance(row, Mapping):
            positions = [f"{wire} -> {names[0]}" for wire, names in self.sources.items() if isinstance(names[0], int)]
            if positions:
                raise CcaiInputError(
                    f"column_mapping: {', '.join(positions)} are positions, but the rows are objects; use key names"
                )
            read: _Reader = _MappingReader(self.sources, self.unmapped_to_data, self.report).read  # type: ignore[arg-type]
        elif row and isinstance(row[0], Mapping):
            raise CcaiInputError(
                "accounts: the rows are lists of objects, as the .output of a mapped task is (one list per mapped "
                "task instance); flatten them into one list upstream"
            )
        else:
            columns = self.columns if self.columns is not None else getattr(type(row), "_fields", None)
            read = (self._by_header(list(columns)) if columns is not None else self._by_position()).read
        self._kind, self._read = kind, read
        return read

    def _by_header(self, columns: list[str]) -> _SequenceReader:
        index: dict[str, int] = {}
        for position, name in enumerate(columns):
            if _blank(name):  # an unnamed column a spreadsheet exports (a,b,c,,) is never read
                continue
            if name in index:
                raise CcaiInputError(
                    f"accounts: header columns {index[name] + 1} and {position + 1} have the same name"
                )
            index[name] = position
        positions: dict[str, int] = {}
        for wire, names in self.sources.items():
            for source in names:
                if isinstance(source, int):
                    if source >= len(columns):
                        raise CcaiInputError(
                            f"column_mapping: {wire} -> {source}, but the rows have {len(columns)} columns"
                        )
                    positions[wire] = source
                    break
                if source in index:
                    positions[wire] = index[source]
                    break
            else:
                if wire in REQUIRED_FIELDS:
                    how = f"column {names[0]!r}" if len(names) == 1 else " or ".join(map(repr, names))
                    raise CcaiInputError(  # column names not shown: a headerless file's first row is data
                        f"accounts: no {how} for {wire} among the {len(columns)} columns of the header; "
                        f'map one with column_mapping, e.g. {{"{wire}": "<column>"}}'
                    )
        used = set(positions.values()) | {index[n] for names in self.sources.values() for n in names if n in index}
        unmapped = [
            (position, name) for position, name in enumerate(columns) if position not in used and not _blank(name)
        ]
        if unmapped and not self.unmapped_to_data:
            self.report.ignored_columns.update(name for _, name in unmapped)
            unmapped = []
        for _, name in unmapped:
            if not VARIABLE_NAME.fullmatch(name):
                raise CcaiInputError(
                    f"unmapped_columns='data': column {name[:40]!r} cannot be a ${{variable}} name "
                    "(letters, digits and underscores only); rename it or leave unmapped_columns='ignore'"
                )
        return _SequenceReader(positions, unmapped, len(columns))

    def _by_position(self) -> _SequenceReader:
        positions = {wire: names[0] for wire, names in self.sources.items() if isinstance(names[0], int)}
        missing = [wire for wire in REQUIRED_FIELDS if wire not in positions]
        if missing:
            raise CcaiInputError(
                f"accounts: the rows are tuples, so column_mapping must give the position of {', '.join(missing)}, "
                'e.g. {"phone": 0, "firstName": 1, "lastName": 2}'
            )
        if self.unmapped_to_data:
            raise CcaiInputError(
                "unmapped_columns='data' needs column names, and tuple rows have none; "
                "return dicts from the upstream task (named tuples arrive through XCom without their names), "
                "or map 'data' to a position"
            )
        return _SequenceReader(positions, [], None)  # type: ignore[arg-type]


# -- writing the accounts ------------------------------------------------------------------------------


def write_accounts(
    rows: Iterable[Any],
    out: IO[bytes],
    *,
    columns: Sequence[str] | None = None,
    column_mapping: Mapping[str, str | int] | None = None,
    default_region: str | None = None,
    on_invalid: OnInvalid = "fail",
    unmapped_columns: UnmappedColumns = "ignore",
    expected_rows: int | None = None,
) -> RecipientReport:
    """
    Validate ``rows`` and write them to ``out`` as a JSON array of CCAI accounts.

    :param rows: dicts or tuples/lists, one per recipient.
    :param out: binary stream the JSON array is written to.
    :param columns: names of the positions of tuple/list rows (a CSV header); named tuples carry theirs.
    :param column_mapping: wire field (``firstName``, ``lastName``, ``phone``, ``data``, ``messageData``)
        -> column name (dict rows, files) or position (tuple rows).
    :param default_region: ISO country code used to parse national numbers (``"US"``); ``None``
        accepts E.164 only.
    :param on_invalid: ``"fail"`` raises on the first invalid or duplicate row; ``"skip"`` leaves it out
        and reports its number.
    :param unmapped_columns: ``"ignore"`` or ``"data"`` (columns not mapped become ``${variables}``).
    :param expected_rows: a guess at the number of rows, to size the duplicate check once rather than
        growing it; default: ``len(rows)`` when ``rows`` has one.
    :return: the count of accounts written and the rows skipped.
    :raises CcaiInputError: on the first invalid row (``on_invalid="fail"``), on options that do not fit
        the rows, or when no valid row is left.
    """
    check_recipient_options(on_invalid, unmapped_columns)
    report = RecipientReport()
    layout = _Layout(column_mapping, columns, unmapped_columns == "data", report)
    normalise = _PhoneNormaliser(default_region).normalise
    is_e164 = E164.fullmatch
    if expected_rows is None:
        expected_rows = len(rows) if isinstance(rows, Sized) else 0
    seen = _PhoneSet(expected_rows)
    skip = on_invalid == "skip"
    reader_type: type | None = None
    read: _Reader
    batch: list[str] = []
    write = out.write
    write(b"[")
    for number, row in enumerate(rows, start=1):
        try:
            if type(row) is not reader_type:
                read = layout.reader_for(row)
                reader_type = type(row)
            first, last, phone, tail = read(row)
            if type(phone) is not str or not is_e164(phone):
                phone = normalise(phone)
            account = (
                f'{{"firstName":{_name(first, "firstName")},"lastName":{_name(last, "lastName")},'
                f'"phone":"{phone}"{tail}}}'
            )
            earlier = seen.add(phone, number)
            if earlier:
                raise _InvalidRow(f"phone: duplicate of row {earlier}")
        except _InvalidRow as error:
            if not skip:
                raise CcaiInputError(f"accounts row {number} ({error}); nothing was sent") from None
            report.skipped.append((number, str(error)))
            continue
        batch.append(account)
        if len(batch) == _BATCH:
            write((b"," if report.count else b"") + ",".join(batch).encode())
            report.count += len(batch)
            batch.clear()
    if batch:
        write((b"," if report.count else b"") + ",".join(batch).encode())
        report.count += len(batch)
    write(b"]")
    if report.count == 0:
        detail = f" ({len(report.skipped)} invalid rows skipped)" if report.skipped else ""
        raise CcaiInputError(f"accounts: no recipients{detail}; nothing was sent")
    return report


def write_accounts_from_file(
    path: str, out: IO[bytes], *, conn_id: str | None = None, **options: Any
) -> RecipientReport:
    """
    Validate the recipients in a CSV, JSON or JSON Lines file and write them to ``out`` (see :func:`write_accounts`).

    This is what :class:`~airflow_provider_ccai.operators.ccai.CcaiCreateCampaignOperator` runs for a
    file; CSV and JSON Lines are streamed, a JSON array is loaded whole.

    :param path: local path or object-storage URI (``s3://``, ``file://``, ``memory://``, ...).
    :param out: binary stream the JSON array of accounts is written to.
    :param conn_id: Airflow connection for an object-storage URI.
    :param options: ``column_mapping``, ``default_region``, ``on_invalid``, ``unmapped_columns``.
    """
    _check_recipients_file(path)
    opened = open_source(path, "accounts", conn_id=conn_id)
    failure: CcaiInputError | None = None
    with opened.handle as handle:
        try:
            rows, columns = rows_from_file(handle, path)
            if not isinstance(rows, Sized):
                # Guess the rows of CSV and JSON Lines at 64 bytes each: most rows are shorter, so a low guess
                # grows the duplicate check once at most, and a high one costs little next to the body.
                options.setdefault("expected_rows", opened.size // 64)
            written = write_accounts(rows, out, columns=columns, **options)
        except CcaiInputError as error:
            failure = error
        except UnicodeDecodeError as error:  # rows are read lazily, so this can surface mid-file
            failure = CcaiInputError(f"accounts: {shown(path)} is not UTF-8 text ({error.reason}); save it as UTF-8")
        except csv.Error as error:  # the csv module's messages name the problem, never a cell's value
            message = _HOLDS_NUL if "NUL" in str(error) else f"is not a readable CSV file: {error}"
            failure = CcaiInputError(f"accounts: {shown(path)} {message}")
    # A list half written or replaced while it was read would text a partial or mixed audience, and one still
    # being written may end in a cut row or cut JSON: either way its version (size, mtime or object version)
    # changed, and the retryable CcaiSourceChangedError is raised instead of a final input error.
    ensure_unchanged(path, "accounts", conn_id=conn_id, opened=opened)
    if failure is not None:
        raise failure
    return written


def rows_from_file(handle: IO[bytes], name: str) -> tuple[Iterable[Any], list[str] | None]:
    """
    Return the rows of a CSV (header line), JSON (array of objects) or JSON Lines file, chosen by ``name``.

    :param handle: the open file (UTF-8, optionally with a byte-order mark).
    :param name: its path or URI; ``.csv``, ``.json``, ``.jsonl`` or ``.ndjson``.
    :return: the rows and, for CSV, the header (the rows are then lists of strings; blank lines, and lines
        of empty cells such as ``,,`` that spreadsheets export, are left out).
    """
    _check_recipients_file(name)
    lower = name.strip().lower()
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    if lower.endswith(".csv"):
        reader = csv.reader(text)
        header = next(filter(_has_a_value, reader), None)  # blank lines and empty-cell lines before it too
        if header and header[0].lstrip().lower().startswith("sep=") and not "".join(header[1:]).strip():
            # Excel's "sep=" line names the separator; "sep=," reads as the cells "sep=" and ""
            separator = header[0].lstrip()[4:].rstrip("\r\n ") or ","
            if separator != ",":
                raise CcaiInputError(
                    f"accounts: {shown(name)} declares {separator!r} as its separator (Excel's sep= line); "
                    "save it as comma-separated CSV"
                )
            header = next(filter(_has_a_value, reader), None)
        if not header:
            raise CcaiInputError(f"accounts: {shown(name)} has no header line (e.g. firstName,lastName,phone)")
        if any("\x00" in cell for cell in header):  # UTF-16 without a byte-order mark decodes as UTF-8 with NULs
            raise CcaiInputError(f"accounts: {shown(name)} {_HOLDS_NUL}")
        holds = "a phone number" if any(_looks_like_phone(cell) for cell in header) else None
        if holds is None and any("@" in cell for cell in header):
            holds = "an email address"
        if holds:  # a file without a header: its first recipient would be taken for column names
            raise CcaiInputError(
                f"accounts: the first line of {shown(name)} holds {holds}, so it is a recipient, not a header; "
                "add a header line (e.g. firstName,lastName,phone)"
            )
        if len(header) == 1 and (delimiter := next((sep for sep in ";\t|" if sep in header[0]), None)):
            raise CcaiInputError(  # a European spreadsheet export; the header's text is not shown
                f"accounts: the header of {shown(name)} is one column holding {delimiter!r}, so the file looks "
                f"{delimiter!r}-separated; save it as comma-separated CSV"
            )
        return filter(_has_a_value, reader), [column.strip() for column in header]
    if lower.endswith(".json"):
        try:
            data = json.load(text)
        except UnicodeDecodeError:
            raise  # reported as "not UTF-8 text" by write_accounts_from_file, not as invalid JSON
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            raise CcaiInputError(f"accounts: {shown(name)} is not valid JSON") from None
        if not isinstance(data, list):
            raise CcaiInputError(f"accounts: {shown(name)} must hold a JSON array of objects")
        return data, None
    return _json_lines(text), None


#: Python 3.10's csv module refuses NUL characters itself; later versions read them as text.
_HOLDS_NUL = "holds NUL characters, as UTF-16 text does; save it as UTF-8"


def _blank(name: Any) -> bool:
    """Return whether a header cell is empty (a column with no name)."""
    return isinstance(name, str) and not name.strip()


def _has_a_value(row: list[str]) -> bool:
    """Return whether a CSV row has a cell that is not blank."""
    return bool("".join(row).strip())


class _UnreadableLine:
    """A JSON Lines line that is not valid JSON, handed on as a row so that ``on_invalid`` decides about it."""


def _json_lines(text: IO[str]) -> Iterator[Any]:
    for line in text:
        if line.strip():
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):
                yield _UnreadableLine()
