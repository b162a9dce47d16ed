"""Recipients: every input shape, validation and E.164 normalisation, and what errors may (not) say."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_ccai.exceptions import CcaiInputError, CcaiSourceChangedError
from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, RenderedRecipients
from airflow_provider_ccai.utils.recipients import (
    RecipientReport,
    _PhoneSet,
    rows_from_file,
    write_accounts,
    write_accounts_from_file,
)
from airflow_provider_ccai.version_compat import AirflowFailException
from tests.unit import capture_logs, replace_memory_objects_when_read

try:
    from airflow.sdk import ObjectStoragePath
except ImportError:  # Airflow 2.11
    from airflow.io.path import ObjectStoragePath  # type: ignore[no-redef]

ADA = {"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550101"}
ALAN = {"firstName": "Alan", "lastName": "Turing", "phone": "+442079460018"}
GRACE = {"firstName": "Grace", "lastName": "Hopper", "phone": "+14155550103"}
PEOPLE = [ADA, ALAN, GRACE]
#: Everything an error message must never contain: names and phone digits, in any format.
PERSONAL = ("Ada", "Lovelace", "Alan", "Turing", "Grace", "Hopper", "4155550", "2079460018", "555-01", "555 01")


def accounts_of(rows: Any, **options: Any) -> tuple[list[dict[str, Any]], RecipientReport]:
    """Run ``write_accounts`` and return the accounts it wrote (parsed: the body must be valid JSON)."""
    out = io.BytesIO()
    report = write_accounts(rows, out, **options)
    accounts = json.loads(out.getvalue())
    assert len(accounts) == report.count
    return accounts, report


def failure(rows: Any, **options: Any) -> str:
    """Return the message of the ``CcaiInputError`` that ``rows`` cause, after checking it leaks nothing."""
    with pytest.raises(CcaiInputError) as caught:
        write_accounts(rows, io.BytesIO(), **options)
    message = str(caught.value)
    for secret in PERSONAL:
        assert secret not in message, f"error message leaks {secret!r}: {message}"
    return message


def campaign(accounts: Any, **kwargs: Any) -> CcaiCreateCampaignOperator:
    return CcaiCreateCampaignOperator(
        task_id=f"send_{uuid.uuid4().hex[:8]}", accounts=accounts, message="Hi ${firstName}", title="T", **kwargs
    )


def body_accounts(operator: CcaiCreateCampaignOperator) -> list[dict[str, Any]]:
    """The ``accounts`` of the request body the operator would send (checked to be valid JSON)."""
    body, count, _ = operator._build_request()
    document = json.loads(body)
    assert document["message"] == "Hi ${firstName}" and document["title"] == "T"
    assert len(document["accounts"]) == count
    return document["accounts"]


# -- files --------------------------------------------------------------------------------------------


def csv_text(rows: list[dict[str, Any]]) -> str:
    header = list(rows[0])
    return "\n".join([",".join(header), *(",".join(str(row[c]) for c in header) for row in rows)]) + "\n"


WRITERS = {
    "csv": csv_text,
    "json": lambda rows: json.dumps(rows),
    "jsonl": lambda rows: "".join(json.dumps(row) + "\n" for row in rows),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
@pytest.mark.parametrize("where", ["local path", "file:// URI", "memory://"])
def test_file_through_the_operator(kind: str, where: str, tmp_path: Path, memory_fs: list[str | None]) -> None:
    text = WRITERS[kind](PEOPLE)
    if where == "memory://":
        source = f"memory://recipients-{uuid.uuid4().hex}/people.{kind}"
        with ObjectStoragePath(source).open("w") as handle:
            handle.write(text)
    else:
        local = tmp_path / f"people.{kind}"
        local.write_text(text, encoding="utf-8")
        source = str(local) if where == "local path" else local.as_uri()

    assert body_accounts(campaign(source)) == PEOPLE


def test_path_objects_are_read_like_their_text(tmp_path: Path, memory_fs: list[str | None]) -> None:
    """A task may return a ``pathlib.Path`` or an ``ObjectStoragePath`` (which keeps its connection id)."""
    local = tmp_path / "people.csv"
    local.write_text(csv_text(PEOPLE), encoding="utf-8")
    remote = ObjectStoragePath("s3://audience/weekly.csv", conn_id="aws_marketing")
    remote.write_text(csv_text(PEOPLE[:1]))

    assert body_accounts(campaign(local)) == PEOPLE
    assert body_accounts(campaign(remote)) == PEOPLE[:1]
    assert set(memory_fs) == {"aws_marketing"}  # read through the path's own connection, never without one
    assert str(RenderedRecipients(local)) == str(local)  # the rendered view shows where, as for a str path


def test_s3_uri_is_read_with_accounts_conn_id(memory_fs: list[str | None]) -> None:
    ObjectStoragePath("memory://audience/weekly.csv").write_text(csv_text(PEOPLE))

    assert body_accounts(campaign("s3://audience/weekly.csv", accounts_conn_id="aws_marketing")) == PEOPLE
    assert "aws_marketing" in memory_fs


def test_file_helper_streams_csv_rows_with_header(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(("\ufeff" + csv_text(PEOPLE).replace("\n", "\r\n", 1) + "\n\n").encode())  # BOM, CRLF, blanks
    with path.open("rb") as handle:
        rows, columns = rows_from_file(handle, str(path))
        assert columns == ["firstName", "lastName", "phone"]
        assert [list(row) for row in rows] == [list(person.values()) for person in PEOPLE]

    out = io.BytesIO()
    report = write_accounts_from_file(str(path), out)
    assert report.count == 3 and json.loads(out.getvalue()) == PEOPLE


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("people.txt", "x", "is not a .csv, .json, .jsonl or .ndjson file"),
        ("people.json", '{"phone": "+14155550101"}', "must hold a JSON array of objects"),
        ("people.json", "[{", "is not valid JSON"),
        ("people.jsonl", json.dumps(ADA) + "\n{oops\n", "accounts row 2 (row: not valid JSON)"),
        ("people.csv", "\n", "has no header line"),
        (
            "people.csv",
            "first,last,mobile\nAda,Lovelace,+14155550101\n",
            "no 'firstName' or 'first_name' for firstName",
        ),
        (
            "people.csv",
            "firstName,lastName,phone,phone\nAda,Lovelace,+1,+1\n",
            "header columns 3 and 4 have the same name",
        ),
        (
            "people.csv",  # no header: the first recipient must not be shown back as column names
            "Ada,Lovelace,+14155550101\nAlan,Turing,+14155550102\n",
            "holds a phone number, so it is a recipient, not a header",
        ),
        ("people.csv", "Ada,Lovelace,(415) 555-0101\n", "holds a phone number, so it is a recipient"),
        ("people.csv", "Ada,Lovelace,\nAlan,Turing,+14155550102\n", "for firstName among the 3 columns of the header"),
        (
            "people.csv",  # no header, and the first recipient has no phone: the email gives the row away
            "Ada,Lovelace,,ada.lovelace@example.com\nAlan,Turing,+14155550102,alan@example.com\n",
            "holds an email address, so it is a recipient, not a header",
        ),
    ],
)
def test_bad_files_are_named(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content)

    with pytest.raises(CcaiInputError, match="accounts") as caught:
        write_accounts_from_file(str(path), io.BytesIO())
    assert expected in str(caught.value)
    assert "Lovelace" not in str(caught.value) and "5550101" not in str(caught.value)


def test_blank_lines_and_lines_of_empty_cells_are_left_out_and_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    header, *rows = csv_text(PEOPLE).splitlines()
    path.write_text("\n".join(["", " , ,", header, ",,", *rows, "  ,\t,", ",,", ""]))  # as spreadsheets export
    out = io.BytesIO()
    assert write_accounts_from_file(str(path), out).count == len(PEOPLE)
    assert json.loads(out.getvalue()) == PEOPLE

    path.write_text("\n".join([header, ",,", rows[0], ",,", "Bad,Row,not a phone", ""]))
    with pytest.raises(CcaiInputError, match=r"^accounts row 2 \(phone: "):
        write_accounts_from_file(str(path), io.BytesIO())


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("people.csv", "firstName,lastName,phone\nJos\xe9,Lovelace,+14155550101\n".encode("latin-1"), "not UTF-8"),
        ("people.jsonl", b'{"firstName":"Ada","lastName":"Lovelace","phone":"+14155550101"}\n\xff\n', "not UTF-8"),
        (
            "people.csv",  # an unclosed quote runs on past the csv module's field size limit
            b'firstName,lastName,phone\nAda,"Lovelace,+14155550101\n' + b"x" * 200_000,
            "not a readable CSV file: field larger than field limit",
        ),
        ("people.json", json.dumps([ADA]).encode("utf-16"), "not UTF-8"),
        (
            "people.json",
            json.dumps([{**ADA, "lastName": "Lovel\xe1ce"}], ensure_ascii=False).encode("latin-1"),
            "not UTF-8",
        ),
        (
            "people.csv",
            "firstName,lastName,phone\nAda,Lovelace,+14155550101\n".encode("utf-16-le"),
            "holds NUL characters, as UTF-16",
        ),
    ],
    ids=[
        "latin-1 csv",
        "binary jsonl",
        "runaway quoted field",
        "utf-16 json",
        "latin-1 json",
        "utf-16 csv without BOM",
    ],
)
def test_unreadable_files_fail_as_bad_input(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    """A retry reads the same bytes, so these fail the task at once (AirflowFailException)."""
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(CcaiInputError, match=f"accounts: .*{name}.* {expected}") as caught:
        write_accounts_from_file(str(path), io.BytesIO())
    assert isinstance(caught.value, AirflowFailException)
    assert "Lovelace" not in str(caught.value) and "5550101" not in str(caught.value)


def test_headerless_csv_with_positions_is_refused_before_its_cells_are_logged(tmp_path: Path) -> None:
    """With positions, the first line would otherwise become column names and be logged as ignored columns."""
    path = tmp_path / "people.csv"
    path.write_text("Ada,Lovelace,+14155550101,VIP\n")

    with pytest.raises(CcaiInputError, match="not a header") as caught:
        write_accounts_from_file(str(path), io.BytesIO(), column_mapping={"firstName": 0, "lastName": 1, "phone": 2})
    assert "Ada" not in str(caught.value)


@pytest.mark.parametrize(
    ("first_line", "region"),
    [
        ("030/1234567,Hans,Mueller,Berlin", "DE"),
        ("+49 30/1234567,Hans,Mueller,Berlin", "DE"),
        ("415\u2013555\u20130101,Ada,Lovelace,Paris", "US"),  # en dashes
        ("\uff0b1 415 555 0101,Ada,Lovelace,Paris", "US"),  # fullwidth plus
        ("415\u00a0555\u00a00101,Ada,Lovelace,Paris", "US"),  # no-break spaces
    ],
)
def test_headerless_csv_is_refused_whatever_punctuation_its_phone_has(
    first_line: str, region: str, tmp_path: Path
) -> None:
    """Any number phonenumbers reads marks a recipient: taken for a header, it would never be texted."""
    path = tmp_path / "people.csv"
    path.write_text(f"{first_line}\n030/7654321,Eva,Schmidt,Hamburg\n", encoding="utf-8")

    with pytest.raises(CcaiInputError, match="holds a phone number, so it is a recipient, not a header") as caught:
        write_accounts_from_file(
            str(path),
            io.BytesIO(),
            column_mapping={"phone": 0, "firstName": 1, "lastName": 2},
            default_region=region,
            unmapped_columns="data",
        )
    assert "Berlin" not in str(caught.value) and "Paris" not in str(caught.value)


@pytest.mark.parametrize("column", ["spend_20240601", "2024-06-01", "consent 2024 06 01", "id_1234567", "phone2"])
def test_header_with_digits_that_are_not_a_phone_number_is_accepted(tmp_path: Path, column: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"firstName,lastName,phone,{column}\nAda,Lovelace,+14155550101,x\n")

    out = io.BytesIO()
    assert write_accounts_from_file(str(path), out).count == 1


def test_file_type_is_read_from_the_name_without_surrounding_spaces(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(csv_text(PEOPLE))
    with path.open("rb") as handle:
        rows, columns = rows_from_file(handle, f"{path} ")
        assert columns == ["firstName", "lastName", "phone"] and len(list(rows)) == len(PEOPLE)


def test_file_of_unknown_type_is_refused_before_it_is_opened(tmp_path: Path, mocker: Any) -> None:
    opened = mocker.patch("airflow_provider_ccai.utils.sources.open_source")
    with pytest.raises(CcaiInputError, match=r"is not a \.csv, \.json, \.jsonl or \.ndjson file"):
        write_accounts_from_file(str(tmp_path / "people.xlsx"), io.BytesIO())
    opened.assert_not_called()


def test_missing_file_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(CcaiInputError, match="does not exist"):
        body_accounts(campaign(str(tmp_path / "nobody.csv")))


def test_unreadable_file_fails_naming_the_field(tmp_path: Path, mocker: Any) -> None:
    mocker.patch("airflow_provider_ccai.utils.sources.os.stat", side_effect=PermissionError(13, "Permission denied"))
    with pytest.raises(CcaiInputError, match=r"^accounts: cannot read .* permission denied$"):
        body_accounts(campaign(str(tmp_path / "people.csv")))


def test_file_that_cannot_be_opened_fails_naming_the_field(tmp_path: Path, mocker: Any) -> None:
    """``stat()`` needs only the folder's permission; a file without read permission fails when it is opened."""
    (tmp_path / "people.csv").write_text(csv_text(PEOPLE))
    mocker.patch("airflow_provider_ccai.utils.sources.open", side_effect=PermissionError(13, "Denied"), create=True)
    with pytest.raises(CcaiInputError, match=r"^accounts: cannot read .*people.csv': permission denied$"):
        body_accounts(campaign(str(tmp_path / "people.csv")))


@pytest.mark.parametrize("kind", WRITERS)
def test_file_its_writer_had_not_finished_is_retried_not_refused(kind: str, tmp_path: Path, mocker: Any) -> None:
    """A reader that reaches the end before the writer does sees a cut row or cut JSON; the file then changed."""
    from airflow_provider_ccai.utils import recipients

    path = tmp_path / f"people.{kind}"
    whole = WRITERS[kind](PEOPLE)
    cut = whole[: whole.rindex("+14155550103") + 5]  # the last phone cut short, and JSON left open
    path.write_text(cut)
    open_source = recipients.open_source

    def read_then_writer_finishes(*args: Any, **kwargs: Any) -> Any:
        opened = open_source(*args, **kwargs)
        with opened.handle:
            content = opened.handle.read()
        path.write_text(whole)
        return opened._replace(handle=io.BytesIO(content))

    mocker.patch.object(recipients, "open_source", side_effect=read_then_writer_finishes)
    with pytest.raises(
        CcaiSourceChangedError, match=r"^accounts: .* changed while it was read; a retry reads it again$"
    ):
        body_accounts(campaign(str(path)))


def test_cut_file_that_did_not_change_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    path.write_text(json.dumps(PEOPLE)[:-10])
    with pytest.raises(CcaiInputError, match="is not valid JSON"):
        body_accounts(campaign(str(path)))


@pytest.mark.parametrize(("kind", "text"), [("json", "[" * 100_000), ("jsonl", "[" * 100_000 + "\n")])
def test_json_nested_too_deep_fails_naming_the_field(kind: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / f"deep.{kind}"
    path.write_text(text)
    with pytest.raises(CcaiInputError, match=r"^accounts(: .* is| row 1 \(row:) not valid JSON"):
        body_accounts(campaign(str(path)))


@pytest.mark.parametrize("unmapped_columns", ["ignore", "data"])
def test_csv_with_unnamed_empty_columns_from_a_spreadsheet(unmapped_columns: str, tmp_path: Path) -> None:
    """Excel exports ``a,b,c,,`` when empty columns are in its used range; those columns are not read."""
    path = tmp_path / "people.csv"
    path.write_text(
        "firstName,lastName,phone,,\n" + "".join(f"{r['firstName']},{r['lastName']},{r['phone']},,\n" for r in PEOPLE)
    )
    assert body_accounts(campaign(str(path), unmapped_columns=unmapped_columns)) == PEOPLE


@pytest.mark.parametrize("phone", ["'4155550101", '="4155550101"'])
def test_csv_without_header_is_refused_when_its_phone_is_kept_as_text(phone: str, tmp_path: Path) -> None:
    """Spreadsheets keep a number as text with a leading apostrophe or as a formula; it is still a phone."""
    path = tmp_path / "people.csv"
    path.write_text(f"Ada,Lovelace,{phone}\nAlan,Turing,4155550102\n")
    operator = campaign(str(path), column_mapping={"firstName": 0, "lastName": 1, "phone": 2}, default_region="US")
    with pytest.raises(CcaiInputError, match="holds a phone number, so it is a recipient, not a header"):
        body_accounts(operator)


def test_json_lines_line_that_is_not_json_is_skipped_like_any_invalid_row(tmp_path: Path) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text(json.dumps(ADA) + "\n\n{oops\n" + json.dumps(GRACE) + "\n")
    out = io.BytesIO()
    report = write_accounts_from_file(str(path), out, on_invalid="skip")
    assert json.loads(out.getvalue()) == [ADA, GRACE]
    assert report.skipped == [(2, "row: not valid JSON")]  # blank lines are not rows


def test_nan_data_and_message_data_count_as_missing() -> None:
    """pandas' ``to_dict("records")`` spells an empty cell NaN."""
    nan = float("nan")
    accounts, _ = accounts_of([{**ADA, "data": nan, "messageData": nan}])
    assert accounts == [ADA]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(
            {**ADA, "messageData": {(1, 2): "x"}},
            r"^accounts row 1 \(messageData: cannot be written as JSON",
            id="tuple key",
        ),
        pytest.param(
            {**ADA, "phone": 10**5000}, r"^accounts row 1 \(phone: not a phone number\)", id="5001-digit phone"
        ),
    ],
)
def test_values_json_or_str_cannot_take_fail_naming_the_row(row: dict[str, Any], expected: str) -> None:
    assert re.match(expected, failure([row], default_region="US"))


def test_csv_with_excels_comma_separator_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("sep=,\n" + csv_text(PEOPLE))
    assert body_accounts(campaign(str(path))) == PEOPLE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("sep=;\n" + csv_text(PEOPLE).replace(",", ";"), r"declares ';' as its separator", id="sep=;"),
        pytest.param(
            csv_text(PEOPLE).replace(",", ";"), r"is one column holding ';', so the file looks ';'-sep", id=";"
        ),
        pytest.param(csv_text(PEOPLE).replace(",", "\t"), r"is one column holding '\\t'", id="tab"),
    ],
)
def test_csv_with_another_separator_fails_naming_it(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(text)
    with pytest.raises(CcaiInputError, match=expected) as raised:
        body_accounts(campaign(str(path)))
    assert not [value for value in PERSONAL if value in str(raised.value)]


def test_disk_error_is_not_taken_for_a_missing_file(tmp_path: Path, mocker: Any) -> None:
    """An I/O error (a network disk that hiccups) may pass: it propagates as is, so Airflow's retries apply."""
    mocker.patch("airflow_provider_ccai.utils.sources.os.stat", side_effect=OSError(5, "Input/output error"))
    with pytest.raises(OSError) as caught:
        body_accounts(campaign(str(tmp_path / "people.csv")))
    assert not isinstance(caught.value, (CcaiInputError, AirflowFailException))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("loop.csv", "is not a valid path (Too many levels of symbolic links)"),
        ("x" * 300 + ".csv", "is not a valid path (File name too long)"),
        ("a\x00.csv", "is not a valid path (it holds a NUL character)"),
    ],
    ids=["symlink loop", "name too long", "NUL character"],
)
def test_path_that_can_never_open_fails_without_retries(name: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    with pytest.raises(CcaiInputError, match=r"^accounts: '.*' " + re.escape(expected)) as caught:
        body_accounts(campaign(str(tmp_path / name)))
    assert isinstance(caught.value, AirflowFailException)


def test_uri_scheme_no_filesystem_serves_fails_naming_the_field(memory_fs: list[str | None]) -> None:
    with pytest.raises(CcaiInputError, match=r"^accounts: no installed filesystem serves 'nosuch' URIs such as "):
        body_accounts(campaign("nosuch://audience/weekly.csv"))


def test_uri_that_does_not_parse_fails_without_retries(memory_fs: list[str | None]) -> None:
    with pytest.raises(
        CcaiInputError, match=r"^accounts: 'memory://\[audience/weekly\.csv' is not a valid URI"
    ) as caught:
        body_accounts(campaign("memory://[audience/weekly.csv"))
    assert isinstance(caught.value, AirflowFailException)


def test_object_store_permission_error_is_left_to_retries(memory_fs: list[str | None], mocker: Any) -> None:
    """A store's 403 may be credentials that expired; the next try gets fresh ones, so it is not final."""
    from fsspec.implementations.memory import MemoryFileSystem

    ObjectStoragePath("memory://audience/weekly.csv").write_text(csv_text(PEOPLE))
    mocker.patch.object(MemoryFileSystem, "info", side_effect=PermissionError("Access Denied"))
    with pytest.raises(PermissionError) as caught:
        body_accounts(campaign("memory://audience/weekly.csv"))
    assert not isinstance(caught.value, (CcaiInputError, AirflowFailException))


def test_recipients_file_replaced_while_read_sends_nothing(
    ccai_conn: dict[str, str], http: Any, memory_fs: list[str | None], mocker: Any
) -> None:
    """A list rewritten between the size check and the read could text a partial audience: nothing is sent."""
    ObjectStoragePath("memory://audience/weekly.csv").write_text(csv_text(PEOPLE))
    replace_memory_objects_when_read(mocker, csv_text(PEOPLE[:1]).encode() + b"Alan,Turing,+1415")  # half written
    with pytest.raises(CcaiSourceChangedError, match=r"^accounts: .* changed while it was read") as caught:
        campaign("memory://audience/weekly.csv").execute(context={})  # type: ignore[arg-type]
    assert not isinstance(caught.value, AirflowFailException)
    assert len(http.calls) == 0


BAD_CSV_ROWS = {
    "row shorter than the header": (
        "firstName,lastName,phone\nAda,Lovelace,+14155550101\nAlan,Turing\n",
        {},
        "row: has 2 fields, the header has 3",
    ),
    # an extra comma would shift the row's cells into the wrong variables
    "row wider than the header": (
        "firstName,lastName,phone,city\nAda,Lovelace,+14155550101,Boston\nJohn,Smith, Jr.,+14155550102,Boston\n",
        {"unmapped_columns": "data"},
        "row: has 5 fields, the header has 4",
    ),
    # an empty data cell means no variables (row 1 passes); text is not an object of variables
    "data cell of text": (
        "firstName,lastName,phone,data\nAda,Lovelace,+14155550101,\nAlan,Turing,+442079460018,vip\n",
        {},
        "data: expected an object of variables, got str",
    ),
}


@pytest.mark.parametrize(("text", "options", "reason"), BAD_CSV_ROWS.values(), ids=BAD_CSV_ROWS.keys())
def test_bad_csv_row_names_the_row(tmp_path: Path, text: str, options: dict[str, Any], reason: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(text)

    with pytest.raises(CcaiInputError) as caught:
        write_accounts_from_file(str(path), io.BytesIO(), **options)
    assert str(caught.value) == f"accounts row 2 ({reason}); nothing was sent"


# -- rows from an upstream task ------------------------------------------------------------------------


def test_not_a_number_is_a_missing_value() -> None:
    """pandas' ``to_dict("records")`` and JSON's ``NaN`` spell a missing value as NaN: never the text 'nan'."""
    nan = float("nan")

    assert failure([{**ADA, "firstName": nan}]) == "accounts row 1 (firstName: missing or empty); nothing was sent"
    accounts, _ = accounts_of([{**ADA, "data": {"offer": nan, "visits": 2}}])
    assert accounts == [{**ADA, "data": {"offer": "", "visits": "2"}}]


def test_dicts_in_camel_or_snake_case() -> None:
    rows = [
        {"firstName": "Ada", "lastName": "Lovelace", "phone": "+14155550101", "data": {"offer": "20% off"}},
        {"first_name": " Alan ", "last_name": "Turing", "phone": " +442079460018 ", "message_data": "m-1"},
        {"first_name": "Grace", "lastName": "Hopper", "phone": "+14155550103", "messageData": {"id": 7}},
    ]

    accounts, report = accounts_of(rows)

    assert accounts == [
        {**ADA, "data": {"offer": "20% off"}},
        {**ALAN, "messageData": "m-1"},
        {**GRACE, "messageData": '{"id":7}'},
    ]
    assert report.skipped == [] and report.ignored_columns == set()


def test_names_are_json_escaped() -> None:
    rows = [{"firstName": 'Zoë "Z"', "lastName": "O'Brien\\née", "phone": "+14155550101", "data": {"x": "π\n"}}]

    accounts, _ = accounts_of(rows)

    assert accounts == [
        {"firstName": 'Zoë "Z"', "lastName": "O'Brien\\née", "phone": "+14155550101", "data": {"x": "π\n"}}
    ]


def test_tuples_with_positions() -> None:
    rows = [("+14155550101", "Ada", "Lovelace", 36), ["+442079460018", "Alan", "Turing", 41]]

    accounts, _ = accounts_of(rows, column_mapping={"phone": 0, "firstName": 1, "lastName": 2})

    assert accounts == [ADA, ALAN]


def test_tuples_need_positions() -> None:
    message = failure([("+14155550101", "Ada", "Lovelace")])
    assert "rows are tuples" in message and "firstName, lastName, phone" in message

    message = failure([("+14155550101", "Ada", "Lovelace")], column_mapping={"phone": 0, "firstName": 1})
    assert "position of lastName" in message


def test_tuples_cannot_send_unnamed_columns_as_data() -> None:
    message = failure(
        [("+14155550101", "Ada", "Lovelace", "Paris")],
        column_mapping={"phone": 0, "firstName": 1, "lastName": 2},
        unmapped_columns="data",
    )
    assert "needs column names" in message


def test_named_tuples_are_read_by_name() -> None:
    Row = namedtuple("Row", ["mobile", "first_name", "last_name", "city", "visits"])
    rows = [Row("+14155550101", "Ada", "Lovelace", "London", "2"), Row("+442079460018", "Alan", "Turing", None, 3)]

    accounts, _ = accounts_of(rows, column_mapping={"phone": "mobile"}, unmapped_columns="data")

    assert accounts == [
        {**ADA, "data": {"city": "London", "visits": "2"}},
        {**ALAN, "data": {"city": "", "visits": "3"}},
    ]


def test_tuples_with_data_and_message_data_positions() -> None:
    rows = [("+14155550101", "Ada", "Lovelace", {"offer": 20}, "m-1"), ("+442079460018", "Alan", "Turing", None, None)]

    accounts, _ = accounts_of(
        rows, column_mapping={"phone": 0, "firstName": 1, "lastName": 2, "data": 3, "messageData": 4}
    )

    assert accounts == [{**ADA, "data": {"offer": "20"}, "messageData": "m-1"}, ALAN]


def test_named_tuple_data_field_wins_over_a_column_of_the_same_name() -> None:
    Row = namedtuple("Row", ["phone", "firstName", "lastName", "data", "city", "tier"])
    rows = [Row("+14155550101", "Ada", "Lovelace", {"city": "London"}, "Paris", None)]

    accounts, _ = accounts_of(rows, unmapped_columns="data")

    assert accounts == [{**ADA, "data": {"city": "London", "tier": ""}}]


def test_upstream_sql_rows_with_column_mapping_through_the_operator(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        {"mobile": "+14155550101", "first_name": "Ada", "surname": "Lovelace", "city": "London", "plan": None},
        {"mobile": "+442079460018", "first_name": "Alan", "surname": "Turing", "city": "Wilmslow", "plan": 3},
    ]
    mapping = {"phone": "mobile", "firstName": "first_name", "lastName": "surname"}

    sent = body_accounts(campaign(rows, column_mapping=mapping, unmapped_columns="data"))
    assert sent == [
        {**ADA, "data": {"city": "London", "plan": ""}},
        {**ALAN, "data": {"city": "Wilmslow", "plan": "3"}},
    ]

    with capture_logs(caplog) as logs:
        assert body_accounts(campaign(rows, column_mapping=mapping)) == [ADA, ALAN]
    assert "Ignored columns not mapped to CCAI fields: city, plan" in logs.text


def test_unmapped_columns_merge_with_data_which_wins() -> None:
    rows = [{**ADA, "data": {"city": "London"}, "city": "Paris", "tier": "gold"}]

    accounts, _ = accounts_of(rows, unmapped_columns="data")

    assert accounts == [{**ADA, "data": {"city": "London", "tier": "gold"}}]


def test_csv_columns_into_data(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("mobile,firstName,last_name,city,zip_code\n+14155550101,Ada,Lovelace,London,N1\n")
    out = io.BytesIO()

    write_accounts_from_file(str(path), out, column_mapping={"phone": "mobile"}, unmapped_columns="data")

    assert json.loads(out.getvalue()) == [{**ADA, "data": {"city": "London", "zip_code": "N1"}}]


def test_csv_column_that_cannot_be_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("phone,firstName,lastName,zip code\n+14155550101,Ada,Lovelace,N1\n")

    with pytest.raises(CcaiInputError, match="column 'zip code' cannot be a \\$\\{variable\\} name"):
        write_accounts_from_file(str(path), io.BytesIO(), unmapped_columns="data")


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"mobile": "phone"}, "column_mapping: unknown field(s) ['mobile']"),
        ({1: "a", "mobile": "b"}, "column_mapping: unknown field(s) [1, 'mobile']"),
        ({"phone": None}, "column_mapping: phone -> None; expected a column name or a position"),
        ({"phone": -1}, "column_mapping: phone -> -1; positions start at 0"),
        ({"phone": 0}, "column_mapping: phone -> 0 are positions, but the rows are objects"),
        (["phone"], "column_mapping: expected a dict of CCAI field to column"),
        ("phone=mobile", "column_mapping: expected a dict of CCAI field to column"),
    ],
)
def test_bad_column_mapping(mapping: Any, expected: str) -> None:
    assert expected in failure([ADA], column_mapping=mapping)


def test_column_mapping_position_past_the_csv_header_fails_before_any_row(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("phone,first,last\n+14155550101,Ada,Lovelace\n")
    mapping = {"phone": 0, "firstName": 1, "lastName": 5}

    with pytest.raises(CcaiInputError, match=r"^column_mapping: lastName -> 5, but the rows have 3 columns$"):
        write_accounts_from_file(str(path), io.BytesIO(), column_mapping=mapping)


def test_column_mapping_naming_a_missing_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(csv_text(PEOPLE))

    with pytest.raises(CcaiInputError, match="no column 'mobile' for phone"):
        write_accounts_from_file(str(path), io.BytesIO(), column_mapping={"phone": "mobile"})


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("on_invalid", "ignore", "on_invalid: expected 'fail' or 'skip'"),
        ("unmapped_columns", "keep", "unmapped_columns: expected 'ignore' or 'data'"),
        ("default_region", "XX", "default_region: 'XX' is not a region code"),
        ("default_region", 1, "default_region: expected a region code such as 'US', got int"),
    ],
)
def test_bad_options(option: str, value: Any, expected: str) -> None:
    assert expected in failure([ADA], **{option: value})


# -- phone numbers -------------------------------------------------------------------------------------


def test_national_numbers_with_default_region() -> None:
    rows = [
        {"firstName": "Ada", "lastName": "Lovelace", "phone": "(415) 555-0101"},
        {"firstName": "Alan", "lastName": "Turing", "phone": "+44 20 7946 0018"},
        {"firstName": "Grace", "lastName": "Hopper", "phone": 4155550103},
    ]

    accounts, _ = accounts_of(rows, default_region="us")

    assert accounts == PEOPLE


@pytest.mark.parametrize(
    ("phone", "region"),
    [
        pytest.param("020 7946 0018", "GB", id="national-in-another-region"),
        pytest.param("+44 (0)20 7946-0018", None, id="international-format-without-region"),
    ],
)
def test_formatted_number_is_normalised_to_e164(phone: str, region: str | None) -> None:
    accounts, _ = accounts_of([{**ALAN, "phone": phone}], default_region=region)
    assert accounts == [ALAN]


@pytest.mark.parametrize(
    ("phone", "region", "reason"),
    [
        (
            "(415) 555-0101",
            None,
            "phone: not in E.164 format (+<country code><number>); set default_region to accept national numbers",
        ),
        ("(415) 123-4567", "US", "phone: not a valid phone number"),
        ("n/a", "US", "phone: contains letters"),
        ("--", "US", "phone: not a phone number"),
        ("+1 202 555 O1OO", None, "phone: contains letters"),  # letter O for zero: keypad digits, someone else
        ("202 555 OOOO", "US", "phone: contains letters"),
        ("+1 202 555 0143 ext 99", None, "phone: contains letters"),
        ("+1 202 555 0143;99", None, "phone: has an extension, which a text message cannot reach"),
        ("", None, "phone: missing or empty"),
        (None, None, "phone: missing"),
        (4155550101.0, "US", "phone: expected a string, got float"),
        (True, "US", "phone: expected a string, got bool"),
        ("+0123456789", None, "phone: not a phone number"),  # E.164 has no country code 0
        ("+1234567890123456", None, "phone: not a valid phone number"),  # 16 digits: one more than E.164 allows
    ],
)
def test_invalid_phone_fails_naming_row_and_field(phone: Any, region: str | None, reason: str) -> None:
    message = failure([ADA, {**ALAN, "phone": phone}], default_region=region)
    assert message == f"accounts row 2 ({reason}); nothing was sent"


def test_duplicates_after_normalisation_name_both_rows() -> None:
    rows = [ADA, ALAN, {**GRACE, "phone": "(415) 555-0101"}]

    message = failure(rows, default_region="US")

    assert message == "accounts row 3 (phone: duplicate of row 1); nothing was sent"


@pytest.mark.parametrize("sized", [False, True], ids=["generator: set grows from 1,024 slots", "list: set presized"])
def test_duplicate_after_thousands_of_numbers(sized: bool) -> None:
    rows = [(f"+1415{n * 1999 % 10**7:07d}", "First", "Last") for n in range(5000)]
    rows.append(rows[4321])
    mapping = {"phone": 0, "firstName": 1, "lastName": 2}

    def given() -> Any:
        return list(rows) if sized else (row for row in rows)

    message = failure(given(), column_mapping=mapping)
    assert message == "accounts row 5001 (phone: duplicate of row 4322); nothing was sent"

    accounts, report = accounts_of(given(), column_mapping=mapping, on_invalid="skip")
    assert report.count == 5000 and report.skipped == [(5001, "phone: duplicate of row 4322")]
    assert len({account["phone"] for account in accounts}) == 5000


def test_phone_set_sizes() -> None:
    assert len(_PhoneSet()._numbers) == 1024
    assert len(_PhoneSet(1_000_000)._numbers) == 2**21
    phones = _PhoneSet(3)
    for row in range(1, 1200):
        phones.add(f"+1212{row:07d}", row)
    assert len(phones._numbers) == 4096 and phones._size == 1199


def test_phone_set_keeps_every_number_and_its_row() -> None:
    phones = _PhoneSet()
    numbers = [f"+{n}" for n in range(10**10, 10**10 + 30_000 * 10_000, 10_000)]  # same last digits: worst case
    assert all(phones.add(number, row) == 0 for row, number in enumerate(numbers, start=1))
    assert phones._size == 30_000
    assert [phones.add(numbers[i], 99_999) for i in (0, 1, 12_345, 29_999)] == [1, 2, 12_346, 30_000]
    assert phones._size == 30_000


# -- names and data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"firstName": ""}, "firstName: missing or empty"),
        ({"firstName": "   "}, "firstName: missing or empty"),
        ({"lastName": None}, "lastName: missing or empty"),
        ({"lastName": ["Lovelace"]}, "lastName: expected a string, got list"),
        ({"data": "offer=1"}, "data: expected an object of variables, got str"),
        ({"data": {"first name": "x"}}, "data: variable name 'first name' must be letters, digits and underscores"),
        (
            {"data": {"+14155550199": "x"}},  # a name with digits is not echoed: it may be a phone number
            "data: variable name (not shown: it holds digits) must be letters, digits and underscores",
        ),
        ({"data": {"offer": {"pct": 20}}}, "data.offer: expected a string, got dict"),
    ],
)
def test_invalid_fields_fail_naming_row_and_field(change: dict[str, Any], reason: str) -> None:
    message = failure([ALAN, {**ADA, **change}])
    assert message == f"accounts row 2 ({reason}); nothing was sent"


def test_missing_names_in_dict_without_the_key() -> None:
    assert failure([{"phone": "+14155550101", "lastName": "Lovelace"}]) == (
        "accounts row 1 (firstName: missing or empty); nothing was sent"
    )


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            [ADA, ["Alan", "Turing", "+442079460018"], GRACE],
            "row: expected an object like the rows before it, got list",
        ),
        ([("Ada", "Lovelace", "+14155550101"), ALAN, ("Grace", "Hopper", "+14155550103")], "row: expected a tuple"),
    ],
    ids=["list among objects", "object among tuples"],
)
def test_row_of_the_other_kind_is_an_invalid_row(rows: list[Any], reason: str) -> None:
    """The first row decides: a stray row of the other kind is numbered, and skipped under on_invalid="skip"."""
    mapping = {"firstName": 0, "lastName": 1, "phone": 2} if isinstance(rows[0], tuple) else None
    assert failure(rows, column_mapping=mapping).startswith(f"accounts row 2 ({reason}")

    accounts, report = accounts_of(rows, column_mapping=mapping, on_invalid="skip")
    assert accounts == [ADA, GRACE]
    assert [number for number, _ in report.skipped] == [2]


def test_rows_that_are_lists_of_objects_are_named_as_a_mapped_tasks_output() -> None:
    message = failure([[ADA, ALAN], [GRACE]])
    assert "the rows are lists of objects, as the .output of a mapped task is" in message
    assert "Lovelace" not in message


def test_row_that_is_not_a_row() -> None:
    assert failure([ADA, "Ada Lovelace +14155550101"]) == (
        "accounts row 2 (row: expected an object or a tuple, got str); nothing was sent"
    )


# -- skipping -----------------------------------------------------------------------------------------------


def test_skip_reports_rows_and_reasons() -> None:
    rows = [ADA, {**ALAN, "phone": "12345"}, {**GRACE, "firstName": ""}, {**GRACE, "phone": ADA["phone"]}, GRACE]

    accounts, report = accounts_of(rows, on_invalid="skip")

    assert accounts == [ADA, GRACE]
    assert report.skipped == [
        (2, "phone: not in E.164 format (+<country code><number>); set default_region to accept national numbers"),
        (3, "firstName: missing or empty"),
        (4, "phone: duplicate of row 1"),
    ]


def test_operator_logs_skipped_rows_without_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    rows = [ADA, {**ALAN, "phone": "+1"}, {**GRACE, "lastName": ""}]

    with capture_logs(caplog) as logs:
        assert body_accounts(campaign(rows, on_invalid="skip")) == [ADA]

    assert "Skipped 2 invalid recipient rows: 2 (phone), 3 (lastName)" in logs.text
    assert not any(secret in logs.text for secret in PERSONAL)


def test_all_rows_invalid_is_an_error() -> None:
    message = failure([{**ADA, "phone": "nope"}, {**ALAN, "lastName": ""}], on_invalid="skip")
    assert message == "accounts: no recipients (2 invalid rows skipped); nothing was sent"
    assert failure([]) == "accounts: no recipients; nothing was sent"


def test_fail_is_the_default() -> None:
    with pytest.raises(CcaiInputError, match="accounts row 2"):
        body_accounts(campaign([ADA, {**ALAN, "phone": "nope"}]))


# -- the body -------------------------------------------------------------------------------------------------


def test_large_list_is_valid_json_in_order() -> None:
    rows = [
        {"firstName": f"F{i}", "last_name": f"L{i}", "phone": f"+1212{i:07d}", "data": {"i": i}} for i in range(5000)
    ]

    accounts, report = accounts_of(rows)

    assert report.count == 5000
    assert accounts == [
        {"firstName": f"F{i}", "lastName": f"L{i}", "phone": f"+1212{i:07d}", "data": {"i": str(i)}}
        for i in range(5000)
    ]


def test_rendered_list_literal_through_the_operator() -> None:
    assert body_accounts(campaign(json.dumps(PEOPLE))) == PEOPLE
    assert (
        body_accounts(
            campaign(
                repr([tuple(p.values()) for p in PEOPLE]), column_mapping={"firstName": 0, "lastName": 1, "phone": 2}
            )
        )
        == PEOPLE
    )
