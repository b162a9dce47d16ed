"""The shared ISO 8601 parser behaves the same on Python 3.10 as on later versions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_ccai.utils.validation import parse_iso_datetime

UTC = timezone.utc
PLUS_ONE = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:03Z", datetime(2026, 11, 25, 10, 0, 3, tzinfo=UTC)),
        ("2026-11-25T10:00:03.5Z", datetime(2026, 11, 25, 10, 0, 3, 500000, tzinfo=UTC)),
        ("2024-09-19T11:52:31.981314Z", datetime(2024, 9, 19, 11, 52, 31, 981314, tzinfo=UTC)),
        ("2024-09-19T11:52:31.9813147z", datetime(2024, 9, 19, 11, 52, 31, 981314, tzinfo=UTC)),
        ("2026-11-25T10:00:03,25+0100", datetime(2026, 11, 25, 10, 0, 3, 250000, tzinfo=timezone(timedelta(hours=1)))),
        (" 2026-11-25T10:00:03-05:00 ", datetime(2026, 11, 25, 10, 0, 3, tzinfo=timezone(timedelta(hours=-5)))),
        ("2026-11-25T10:00:03", datetime(2026, 11, 25, 10, 0, 3)),
        ("2026-11-25T10:00", datetime(2026, 11, 25, 10, 0)),
        ("2026-11-25T10:00Z", datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        ("2026-12-01 15:00:00Z", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
        ("2026-12-01 15:00:00.12345+0100", datetime(2026, 12, 1, 15, 0, 0, 123450, tzinfo=PLUS_ONE)),
    ],
)
def test_parses_zulu_and_any_fraction_length(text: str, expected: datetime) -> None:
    parsed = parse_iso_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["", "next monday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z"])
def test_rejects_what_is_not_a_date_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_datetime(text)
