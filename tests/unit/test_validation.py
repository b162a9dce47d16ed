"""
Shared checks: the ISO 8601 parser behaves the same on Python 3.10 as later; ``hook_params`` is checked
before any request.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest

from airflow_provider_ccai.utils.validation import parse_iso_datetime
from tests.images import PNG

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
        ("2026-12-01T15:00:00-05", datetime(2026, 12, 1, 15, 0, tzinfo=timezone(timedelta(hours=-5)))),
        ("2026-12-01 15:00:00.5+01", datetime(2026, 12, 1, 15, 0, 0, 500000, tzinfo=PLUS_ONE)),
        ("2026-12-01T15Z", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
        ("2026-12-01T15", datetime(2026, 12, 1, 15, 0)),
        ("2026-12-01", datetime(2026, 12, 1)),
    ],
)
def test_parses_zulu_and_any_fraction_length(text: str, expected: datetime) -> None:
    parsed = parse_iso_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "next monday",
        "2026-13-01T00:00:00Z",
        "2026-11-25T25:00:00Z",
        "2026-11-25T10:00:00+5",
        "20261201T150000Z",  # the basic format: Python 3.11+ reads it, 3.10 does not; so neither here
        "2026-W49-2T15:00:00Z",  # a week date: likewise
        "2026-12-01T15:00:00Z trailing",
    ],
)
def test_rejects_what_is_not_an_extended_format_date_time(text: str) -> None:
    """The same on every Python the provider supports (Airflow 2.11 runs on 3.10)."""
    with pytest.raises(ValueError):
        parse_iso_datetime(text)


# -- hook_params ---------------------------------------------------------------------------------------


def test_hook_arguments_are_the_hooks_keyword_arguments() -> None:
    import inspect

    from airflow_provider_ccai.hooks.ccai import CloudContactHook
    from airflow_provider_ccai.utils.validation import HOOK_ARGUMENTS

    keyword_only = inspect.Parameter.KEYWORD_ONLY
    parameters = inspect.signature(CloudContactHook.__init__).parameters.values()
    assert sorted(HOOK_ARGUMENTS) == sorted(p.name for p in parameters if p.kind is keyword_only)


@pytest.mark.parametrize(
    ("hook_params", "expected"),
    [
        ({"timeout": 0}, "hook_params['timeout']: expected more than 0 seconds, got 0"),
        ({"timeout": 1e10}, "hook_params['timeout']: expected at most 86400, got 10000000000.0"),
        ({"max_attempts": 1000}, "hook_params['max_attempts']: expected at most 100, got 1000"),
        ({"backoff_max": 7200}, "hook_params['backoff_max']: expected at most 3600, got 7200"),
        ({"connect_timeout": -1.5}, "hook_params['connect_timeout']: expected more than 0 seconds"),
        ({"timeout": float("nan")}, "hook_params['timeout']: expected a number"),
        ({"timeout": float("inf")}, "hook_params['timeout']: expected a number"),
        ({"max_attempts": 2.5}, "hook_params['max_attempts']: expected a whole number of 1 or more"),
        ({"max_attempts": 0}, "hook_params['max_attempts']: expected a whole number of 1 or more"),
        ({"backoff_initial": -1}, "hook_params['backoff_initial']: expected 0 or more seconds"),
        ({"backoff_max": None}, "hook_params['backoff_max']: expected a number"),
        ({1: 60}, "hook_params: unknown argument 1"),
    ],
)
def test_hook_params_out_of_range_name_the_argument(hook_params: Any, expected: str) -> None:
    from airflow_provider_ccai.exceptions import CcaiInputError
    from airflow_provider_ccai.utils.validation import checked_hook_params

    with pytest.raises(CcaiInputError) as raised:
        checked_hook_params(hook_params)
    assert str(raised.value).startswith(expected)


def test_hook_params_that_fit_are_returned_as_a_copy() -> None:
    from airflow_provider_ccai.utils.validation import checked_hook_params

    given = {"timeout": None, "connect_timeout": 2.5, "max_attempts": 3.0, "backoff_initial": 0, "backoff_max": 10}
    checked = checked_hook_params(given)
    assert checked == given and checked is not given
    assert checked_hook_params(None) == {}


def _upload(tmp_path: Any, hook_params: Any) -> Any:
    from airflow_provider_ccai.operators.ccai import CcaiUploadFileOperator

    image = tmp_path / "offer.png"
    image.write_bytes(PNG)
    return lambda: CcaiUploadFileOperator(task_id="upload", file_path=str(image), hook_params=hook_params).execute({})


def _campaign(tmp_path: Any, hook_params: Any) -> Any:
    from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator

    operator = CcaiCreateCampaignOperator(
        task_id="send",
        accounts=[{"firstName": "Ada", "lastName": "Lovelace", "phone": "+15555550101"}],
        message="Hi ${firstName}",
        title="Offer",
        hook_params=hook_params,
    )
    return lambda: operator.execute({"ti": mock.MagicMock(try_number=1), "dag_run": mock.MagicMock()})


def _sensor(deferrable: bool) -> Any:
    def build(tmp_path: Any, hook_params: Any) -> Any:
        from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor

        sensor = CcaiCampaignSensor(task_id="wait", campaign_id=7, deferrable=deferrable, hook_params=hook_params)
        return lambda: sensor.execute({})

    return build


def _notifier(tmp_path: Any, hook_params: Any) -> Any:
    from airflow_provider_ccai.notifications.ccai import CcaiNotifier

    return lambda: CcaiNotifier(phones=["+15555550199"], hook_params=hook_params).notify({})


@pytest.mark.parametrize(
    "run",
    [_upload, _campaign, _sensor(deferrable=False), _sensor(deferrable=True), _notifier],
    ids=["upload", "campaign", "sensor", "deferrable sensor", "notifier"],
)
@pytest.mark.parametrize(
    ("hook_params", "names"),
    [
        ({"read_timeout": 60}, "hook_params: unknown argument 'read_timeout'"),
        ({"timeout": "60"}, "hook_params['timeout']: expected a number"),
        ([("timeout", 60)], "hook_params: expected a dict"),
    ],
    ids=["unknown name", "not a number", "not a dict"],
)
def test_bad_hook_params_fail_without_retries_before_any_request(
    ccai_conn: Any, http: Any, tmp_path: Any, run: Any, hook_params: Any, names: str
) -> None:
    from airflow_provider_ccai.exceptions import CcaiInputError

    with pytest.raises(CcaiInputError) as raised:
        run(tmp_path, hook_params)()

    assert str(raised.value).startswith(names)
    assert len(http.calls) == 0
