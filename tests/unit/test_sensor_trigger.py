"""CcaiCampaignSensor and CcaiCampaignTrigger: mocked HTTP for the sensor's logic, the sandbox for the trigger."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import requests

from airflow_provider_ccai.exceptions import CcaiCampaignWaitError, CcaiInputError, CcaiTransientError
from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor
from airflow_provider_ccai.triggers.ccai import POLL_MARGIN, CcaiCampaignTrigger
from airflow_provider_ccai.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
)
from tests.conftest import SANDBOX_KEY, connection_json
from tests.unit import capture_logs

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
except ImportError:  # Airflow 2.11
    from airflow.exceptions import AirflowSensorTimeout, TaskDeferred  # type: ignore[no-redef]

TRIGGER_PATH = "airflow_provider_ccai.triggers.ccai.CcaiCampaignTrigger"


def stats(pending: int = 0, sending: int = 0, sent: int = 0, error: int = 0) -> dict[str, int]:
    return {
        "errorCount": error,
        "pendingCount": pending,
        "sendingCount": sending,
        "sentCount": sent,
        "totalCount": pending + sending + sent + error,
    }


def stats_url(ccai_conn: dict[str, str], campaign_id: int) -> str:
    return f"{ccai_conn['api_url']}/v2/messages/campaign/{campaign_id}/stats"


def first_event(trigger: CcaiCampaignTrigger, limit: float = 60.0) -> dict[str, Any]:
    """Run the trigger until its first event (bounded by ``limit`` seconds) and return the payload."""

    async def run() -> Any:
        return await asyncio.wait_for(trigger.run().__anext__(), timeout=limit)

    return asyncio.run(run()).payload


# -- sensor: poke ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param({"pending": 3, "sending": 1, "sent": 6}, id="pending"),
        pytest.param({"sending": 1, "sent": 9}, id="sending"),
    ],
)
def test_poke_not_done_while_messages_are_pending_or_sending(http, ccai_conn, counts):
    http.get(stats_url(ccai_conn, 77), json=stats(**counts))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77)

    assert not sensor.poke({})
    assert len(http.calls) == 1
    assert http.calls[0].request.headers["Authorization"] == f"Bearer {ccai_conn['api_key']}"


def test_poke_done_returns_final_stats_for_xcom(http, ccai_conn):
    final = stats(sent=9, error=1)
    http.get(stats_url(ccai_conn, 77), json=final)

    result = CcaiCampaignSensor(task_id="wait", campaign_id=77).poke({})

    assert result.is_done is True
    assert result.xcom_value == final


def test_poke_fails_without_retries_when_error_ratio_is_above_threshold(http, ccai_conn):
    http.get(stats_url(ccai_conn, 77), json=stats(sent=8, error=2))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=0.1)

    with pytest.raises(AirflowFailException) as error:
        sensor.poke({})
    message = str(error.value)
    assert "campaign 77" in message and "2 of 10 messages failed" in message and message.endswith("allows; sent: 8")


def test_error_ratio_equal_to_threshold_passes(http, ccai_conn):
    http.get(stats_url(ccai_conn, 77), json=stats(sent=9, error=1))

    assert CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=0.1).poke({}).is_done


def test_default_threshold_is_ten_percent(http, ccai_conn):
    http.get(stats_url(ccai_conn, 77), json=stats(sent=89, error=11))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77)

    assert sensor.max_error_ratio == 0.1
    with pytest.raises(AirflowFailException, match="11 of 100"):
        sensor.poke({})


def test_zero_threshold_fails_on_one_error(http, ccai_conn):
    http.get(stats_url(ccai_conn, 77), json=stats(sent=999, error=1))

    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=0.0)

    with pytest.raises(AirflowFailException, match=r"1 of 1000 messages failed \(0\.1%\), more than max_error_ratio=0"):
        sensor.poke({})
    assert len(http.calls) == 1


def test_counts_that_are_all_zero_are_not_taken_for_delivered(http, ccai_conn):
    """A new campaign whose counts have not filled in yet: the sensor waits, then sees it sent."""
    http.get(stats_url(ccai_conn, 77), json=stats())
    http.get(stats_url(ccai_conn, 77), json=stats(sent=2))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=0.0)

    assert sensor.poke({}) is False
    result = sensor.poke({})
    assert result.is_done and result.xcom_value == stats(sent=2)


def test_messages_neither_sent_nor_failed_are_not_taken_for_delivered(http, ccai_conn):
    """Messages counted in the total but in no documented state (held for approval, say) are not delivered."""
    held = {**stats(sent=1), "totalCount": 5}
    http.get(stats_url(ccai_conn, 77), json=held)
    http.get(stats_url(ccai_conn, 77), json=stats(sent=5))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=0.0)

    assert sensor.poke({}) is False
    assert sensor.poke({}).xcom_value == stats(sent=5)


@pytest.mark.parametrize(("ratio", "fails"), [(1.0, False), (0.5, True)])
def test_error_counts_above_the_total_give_a_ratio_of_at_most_one(http, ccai_conn, ratio, fails):
    """``max_error_ratio=1.0`` never fails, even when CCAI counts more errors than messages."""
    http.get(stats_url(ccai_conn, 77), json={**stats(error=6), "totalCount": 5})
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, max_error_ratio=ratio)

    if fails:
        with pytest.raises(AirflowFailException, match=r"6 of 6 messages failed \(100\.0%\)"):
            sensor.poke({})
    else:
        assert sensor.poke({}).is_done


def test_each_poke_closes_the_session_of_the_poke_before(http, ccai_conn, mocker):
    http.get(stats_url(ccai_conn, 77), json=stats(pending=1))
    closed = mocker.spy(requests.Session, "close")
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77)

    sensor.poke({})
    first = sensor.hook.session
    sensor.poke({})

    assert [call.args[0] for call in closed.call_args_list] == [first]
    assert sensor.hook.session is not first


def test_each_poke_reads_the_connection_again(http, ccai_conn, monkeypatch):
    """A sensor may wait for days: an API key rotated meanwhile is used from the next poke on."""
    http.get(stats_url(ccai_conn, 77), json=stats(pending=1))
    http.get(stats_url(ccai_conn, 77), json=stats(sent=1))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77)

    assert sensor.poke({}) is False
    rotated = "rotated-api-key-0987654321"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CCAI_DEFAULT", connection_json(ccai_conn["api_url"], ccai_conn["files_url"], rotated)
    )
    assert sensor.poke({}).is_done

    keys = [call.request.headers["Authorization"] for call in http.calls]
    assert keys == [f"Bearer {ccai_conn['api_key']}", f"Bearer {rotated}"]


@pytest.mark.parametrize(
    "given",
    [" 123 ", 123.0, Decimal("123"), Decimal("123.000")],
    ids=["rendered string", "float", "Decimal", "Decimal.000"],
)
def test_whole_number_campaign_ids_are_accepted(http, ccai_conn, given):
    http.get(stats_url(ccai_conn, 123), json=stats(sent=1))

    assert CcaiCampaignSensor(task_id="wait", campaign_id=given).poke({}).is_done
    assert http.calls[0].request.url == stats_url(ccai_conn, 123)


@pytest.mark.parametrize(
    "bad",
    [
        "abc",
        "",
        "0",
        "-5",
        "12.5",
        "1_000",
        "²",
        "١٢",
        "{{ ti.xcom_pull('create') }}",
        0,
        -3,
        True,
        None,
        1.5,
        float("nan"),
        float("inf"),
        Decimal("12.5"),
        Decimal("NaN"),
        {"id": 1},
    ],
)
def test_bad_campaign_id_fails_naming_the_field_before_any_request(http, ccai_conn, bad):
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=bad)

    with pytest.raises(CcaiInputError, match=r"^campaign_id: expected a positive integer"):
        sensor.poke({})
    with pytest.raises(CcaiInputError, match=r"^campaign_id"):
        sensor.execute({})
    sensor.deferrable = True
    with pytest.raises(CcaiInputError, match=r"^campaign_id"):
        sensor.execute({})
    assert len(http.calls) == 0


def test_a_long_bad_campaign_id_is_cut_short_in_the_error(http, ccai_conn):
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id="x" * 500)

    with pytest.raises(CcaiInputError) as raised:
        sensor.poke({})
    assert str(raised.value) == f"campaign_id: expected a positive integer campaign id, got {repr('x' * 500)[:60]}..."
    assert len(http.calls) == 0


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_bad_campaign_id_is_skipped_under_soft_fail(http, ccai_conn, deferrable):
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id="abc", soft_fail=True, deferrable=deferrable)

    with pytest.raises(AirflowSkipException) as skipped:
        sensor.execute({})
    # Airflow's poke loop skips with its own message, chained to the error
    assert "campaign_id: expected a positive integer" in f"{skipped.value} {skipped.value.__cause__}"
    assert len(http.calls) == 0


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize("flag", ["soft_fail", "never_fail"])
def test_bad_hook_params_are_skipped_alike_in_both_modes(http, ccai_conn, deferrable, flag):
    sensor = CcaiCampaignSensor(
        task_id="wait", campaign_id=5, hook_params={"timeout": "60"}, deferrable=deferrable, **{flag: True}
    )

    with pytest.raises(AirflowSkipException) as skipped:
        sensor.execute({})
    assert "hook_params['timeout']: expected a number" in f"{skipped.value} {skipped.value.__cause__}"
    assert len(http.calls) == 0


def test_bad_campaign_id_error_is_not_retried():
    assert issubclass(CcaiInputError, AirflowFailException)


@pytest.mark.parametrize("ratio", [-0.1, 1.5, "0.1", True, None])
def test_invalid_max_error_ratio_is_refused_at_parse_time(ratio):
    with pytest.raises(ValueError, match="max_error_ratio"):
        CcaiCampaignSensor(task_id="wait", campaign_id=1, max_error_ratio=ratio)


def test_campaign_id_is_the_only_templated_field():
    assert CcaiCampaignSensor.template_fields == ("campaign_id",)
    assert CcaiCampaignSensor.template_ext == ()


def test_execute_polls_until_done_and_returns_stats(http, ccai_conn):
    url = stats_url(ccai_conn, 9)
    http.get(url, json=stats(pending=2))
    http.get(url, json=stats(sending=1, sent=1))
    http.get(url, json=stats(sent=2))
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=9, poke_interval=0, timeout=60)

    assert sensor.execute({}) == stats(sent=2)
    assert len(http.calls) == 3


def test_poke_hook_params_override_the_connections_attempts(http, ccai_conn):
    http.get(stats_url(ccai_conn, 77), status=503)
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=77, hook_params={"max_attempts": 1})

    with pytest.raises(AirflowException, match="503"):
        sensor.poke({})
    assert len(http.calls) == 1


@pytest.mark.parametrize(
    ("arguments", "expected_call"),
    [
        ({}, mock.call("ccai_default")),
        (
            {"ccai_conn_id": "ccai_other", "hook_params": {"timeout": 60, "connect_timeout": 5}},
            mock.call("ccai_other", timeout=60, connect_timeout=5),
        ),
    ],
)
def test_poke_builds_the_hook_from_the_connection_and_hook_params(mocker, arguments, expected_call):
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.get_campaign_stats.return_value = stats(sent=3)

    assert CcaiCampaignSensor(task_id="wait", campaign_id=77, **arguments).poke({}).is_done
    assert hook_class.call_args_list == [expected_call]


def test_importing_the_sensor_does_not_import_the_hook():
    code = (
        "import sys, airflow_provider_ccai.sensors.ccai, airflow_provider_ccai.triggers.ccai;"
        "sys.exit(1 if 'airflow_provider_ccai.hooks.ccai' in sys.modules else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# -- sensor: deferrable ---------------------------------------------------------------------------


def test_deferrable_execute_defers_to_a_serialisable_trigger_without_secrets(http, ccai_conn):
    sensor = CcaiCampaignSensor(
        task_id="wait", campaign_id="42", deferrable=True, poke_interval=5, timeout=300, ccai_conn_id="ccai_default"
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    after = time.time()

    assert deferred.value.method_name == "execute_complete"
    # Airflow's deferral timeout comes a minute after the trigger's deadline, and a poll still running at the
    # deadline is abandoned before it: the trigger, not Airflow, reports the timeout, with the last counts.
    assert deferred.value.timeout == timedelta(seconds=300 + 60)
    assert 0 < POLL_MARGIN < 60
    trigger = deferred.value.trigger
    assert isinstance(trigger, CcaiCampaignTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_PATH
    assert kwargs["campaign_id"] == 42 and kwargs["ccai_conn_id"] == "ccai_default"
    assert kwargs["poke_interval"] == 5.0
    assert before + 300 <= kwargs["deadline"] <= after + 300
    assert kwargs["hook_params"] == {}
    assert all(isinstance(value, (int, float, str)) for name, value in kwargs.items() if name != "hook_params")
    assert ccai_conn["api_key"] not in json.dumps(kwargs)
    assert len(http.calls) == 0


@pytest.mark.parametrize("silent_fail", [False, True])
def test_deferrable_sensor_passes_hook_params_and_silent_fail_to_the_trigger(http, ccai_conn, silent_fail):
    hook_params = {"timeout": 60, "connect_timeout": 5, "max_attempts": 3}
    sensor = CcaiCampaignSensor(
        task_id="wait", campaign_id=42, deferrable=True, hook_params=hook_params, silent_fail=silent_fail
    )

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})

    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["hook_params"] == hook_params
    assert kwargs["silent_fail"] is silent_fail
    assert len(http.calls) == 0


def test_deferrable_sensor_with_non_numeric_hook_params_fails_before_deferring(http, ccai_conn):
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=42, deferrable=True, hook_params={"timeout": "60"})

    with pytest.raises(ValueError, match=r"^hook_params\['timeout'\]: expected a number"):
        sensor.execute({})
    assert len(http.calls) == 0


@pytest.mark.parametrize(
    ("hook_params", "silent_fail"),
    [(None, False), ({"timeout": 60, "connect_timeout": 5.5, "max_attempts": 2, "backoff_initial": 0.5}, True)],
)
def test_trigger_serialize_round_trips(hook_params, silent_fail):
    trigger = CcaiCampaignTrigger(
        campaign_id=7,
        ccai_conn_id="ccai_other",
        poke_interval=3,
        deadline=1_900_000_000.5,
        hook_params=hook_params,
        silent_fail=silent_fail,
    )
    classpath, kwargs = trigger.serialize()

    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**json.loads(json.dumps(kwargs)))

    assert type(rebuilt) is CcaiCampaignTrigger
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["hook_params"] == (hook_params or {})
    assert rebuilt.serialize() == (classpath, kwargs)


def test_trigger_keeps_its_own_copy_of_hook_params():
    hook_params = {"timeout": 60}
    trigger = CcaiCampaignTrigger(campaign_id=7, hook_params=hook_params)
    hook_params["timeout"] = 1
    trigger.serialize()[1]["hook_params"]["timeout"] = 2

    assert trigger.serialize()[1]["hook_params"] == {"timeout": 60}


def test_trigger_without_hook_params_serialises_an_empty_dict():
    assert CcaiCampaignTrigger(campaign_id=7).serialize()[1]["hook_params"] == {}
    assert CcaiCampaignTrigger(campaign_id=7, hook_params=None).hook_params == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": "60"},
        {"max_attempts": True},
        {"backoff_max": None},
        {"timeout": [60]},
        {"timeout": {"read": 60}},
        {1: 60},
        [("timeout", 60)],
        "timeout=60",
        60,
    ],
)
def test_trigger_refuses_hook_params_that_are_not_names_to_numbers(bad):
    with pytest.raises(ValueError, match=r"^hook_params"):
        CcaiCampaignTrigger(campaign_id=7, hook_params=bad)


def test_trigger_hook_params_error_does_not_show_the_values():
    with pytest.raises(ValueError) as error:
        CcaiCampaignTrigger(campaign_id=7, hook_params={"timeout": "secret-looking-value"})
    assert "secret-looking-value" not in str(error.value)


def test_trigger_run_builds_the_hook_with_hook_params(mocker):
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.aget_campaign_stats = mocker.AsyncMock(return_value=stats(sent=2))
    trigger = CcaiCampaignTrigger(7, "ccai_other", poke_interval=0, hook_params={"timeout": 60, "max_attempts": 1})

    event = first_event(trigger, limit=10)

    assert event == {"status": "success", "campaign_id": 7, "stats": stats(sent=2)}
    hook_class.assert_called_once_with("ccai_other", timeout=60, max_attempts=1)


def test_trigger_waits_while_the_counts_are_all_zero(mocker):
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.aget_campaign_stats = mocker.AsyncMock(side_effect=[stats(), stats(), stats(sent=3)])

    event = first_event(CcaiCampaignTrigger(7, poke_interval=0), limit=10)

    assert event == {"status": "success", "campaign_id": 7, "stats": stats(sent=3)}
    assert hook_class.return_value.aget_campaign_stats.await_count == 3


def test_trigger_logs_the_wait_it_takes_when_the_deadline_cuts_it_short(mocker, caplog):
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.aget_campaign_stats = mocker.AsyncMock(return_value=stats(pending=2))
    sleep = mocker.patch("airflow_provider_ccai.triggers.ccai.asyncio.sleep", mocker.AsyncMock())
    clock = mocker.patch("airflow_provider_ccai.triggers.ccai.time")  # the trigger's clock only, not logging's
    clock.time.side_effect = [1000.0, 1000.0, 1001.0, 1001.0, 1004.0, 1004.0]
    trigger = CcaiCampaignTrigger(7, poke_interval=60, deadline=1003.5)

    with capture_logs(caplog) as logs:
        event = first_event(trigger, limit=10)

    assert sleep.await_args_list == [mocker.call(3.5), mocker.call(2.5)]
    assert "checking again in 3.5 s" in logs.text and "checking again in 60 s" not in logs.text
    assert event["reason"] == "timeout"


def test_trigger_without_deadline_gives_up_after_seven_days():
    seven_days = 7 * 24 * 3600
    before = time.time()
    _, kwargs = CcaiCampaignTrigger(campaign_id=7).serialize()

    assert before + seven_days <= kwargs["deadline"] <= time.time() + seven_days


@pytest.mark.parametrize(("setting", "expected"), [(None, "False"), ("true", "True"), ("false", "False")])
def test_default_deferrable_follows_airflow_config(monkeypatch, setting, expected):
    """The default is read from ``[operators] default_deferrable`` when the module is imported, as Airflow's own."""
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    if setting is not None:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    code = (
        "from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor; "
        "print(CcaiCampaignSensor(task_id='wait', campaign_id=1).deferrable)"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)

    assert result.stdout.strip().splitlines()[-1] == expected


def test_execute_complete_returns_stats():
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5)
    final = stats(sent=10)

    assert sensor.execute_complete({}, {"status": "success", "campaign_id": 5, "stats": final}) == final


def test_execute_complete_applies_the_threshold():
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5, max_error_ratio=0.2)
    event = {"status": "success", "campaign_id": 5, "stats": stats(sent=7, error=3)}

    with pytest.raises(AirflowFailException, match="3 of 10 messages failed"):
        sensor.execute_complete({}, event)


def test_execute_complete_rejects_malformed_stats():
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5)

    with pytest.raises(AirflowException, match="no valid stats"):
        sensor.execute_complete({}, {"status": "success", "campaign_id": 5, "stats": {"sentCount": 1}})


@pytest.mark.parametrize(
    ("reason", "expected", "not_expected"),
    [
        ("rejected", AirflowFailException, None),
        ("timeout", AirflowSensorTimeout, None),
        ("failed", CcaiCampaignWaitError, AirflowException),
        (None, CcaiCampaignWaitError, AirflowException),
    ],
)
def test_execute_complete_raises_on_error_events(reason, expected, not_expected):
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5)
    event = {"status": "error", "reason": reason, "campaign_id": 5, "message": "CCAI said no"}

    with pytest.raises(expected, match="CCAI said no") as error:
        sensor.execute_complete({}, event)
    if not_expected is not None:
        assert not isinstance(error.value, not_expected)


def test_soft_fail_treats_a_transient_failure_alike_when_deferred_and_when_poking(http, ccai_conn):
    """soft_fail skips what fails for good (rejected, timed out, too many errors), never an outage a retry may end."""
    sensor = CcaiCampaignSensor(
        task_id="wait", campaign_id=5, soft_fail=True, deferrable=False, hook_params={"max_attempts": 1}
    )
    outage = {"status": "error", "reason": "failed", "campaign_id": 5, "message": "CCAI answered HTTP 503"}
    http.get(stats_url(ccai_conn, 5), status=503)

    with pytest.raises(CcaiCampaignWaitError, match="HTTP 503"):
        sensor.resume_execution("execute_complete", {"event": outage}, {})
    with pytest.raises(CcaiTransientError, match="HTTP 503"):
        sensor.execute({})
    for final in (
        {"status": "error", "reason": "rejected", "campaign_id": 5, "message": "HTTP 404"},
        {"status": "error", "reason": "timeout", "campaign_id": 5, "message": "still sending"},
        {"status": "success", "campaign_id": 5, "stats": stats(sent=1, error=9)},
    ):
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("execute_complete", {"event": final}, {})


@pytest.mark.parametrize(
    ("next_method", "next_kwargs"),
    [
        ("execute_complete", {"event": {"status": "error", "reason": "rejected", "campaign_id": 5, "message": "404"}}),
        ("execute_complete", {"event": {"status": "error", "reason": "failed", "campaign_id": 5, "message": "503"}}),
        ("execute_complete", {"event": {"status": "success", "campaign_id": 5, "stats": stats(sent=1, error=9)}}),
        ("execute_complete", {"event": {"status": "success", "campaign_id": 5, "stats": {"sentCount": 1}}}),
        ("__fail__", {"error": "Trigger failure", "traceback": ["boom"]}),
    ],
    ids=["rejected", "failed", "too many errors", "malformed stats", "trigger crashed"],
)
def test_never_fail_skips_a_resumed_failure_as_poke_mode_does(next_method, next_kwargs):
    """Poke mode skips any failure of poke() under never_fail; Airflow 2.11's resume does not, so the sensor does."""
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5, never_fail=True)

    with pytest.raises(AirflowSkipException):
        sensor.resume_execution(next_method, next_kwargs, {})


@pytest.mark.parametrize(
    ("next_method", "next_kwargs"),
    [
        (
            "execute_complete",
            {"event": {"status": "error", "reason": "timeout", "campaign_id": 5, "message": "sending"}},
        ),
        # what the scheduler resumes a task with when its deferral timed out
        ("__fail__", {"error": "Trigger timeout" if AIRFLOW_V_3_0_PLUS else "Trigger/execution timeout"}),
    ],
    ids=["trigger's deadline", "deferral timeout"],
)
@pytest.mark.parametrize("never_fail", [False, True])
def test_a_resumed_timeout_fails_even_under_never_fail_as_in_poke_mode(never_fail, next_method, next_kwargs):
    """Airflow 3.3 would skip a resumed timeout under never_fail, poke mode fails it: the sensor fails it on both."""
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=5, never_fail=never_fail)

    with pytest.raises(AirflowException) as failed:
        sensor.resume_execution(next_method, next_kwargs, {})
    assert not isinstance(failed.value, AirflowSkipException)
    assert "timeout" in str(failed.value) or "sending" in str(failed.value)


def test_execute_complete_without_event_fails():
    with pytest.raises(AirflowException, match="without a trigger event"):
        CcaiCampaignSensor(task_id="wait", campaign_id=5).execute_complete({}, None)


# -- trigger and sensor against the sandbox -------------------------------------------------------


def create_campaign(phones: list[str], **fields: Any) -> int:
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    accounts = [{"firstName": "Test", "lastName": f"User{i}", "phone": phone} for i, phone in enumerate(phones)]
    campaign = CloudContactHook().create_campaign(
        {"accounts": accounts, "message": "Hello ${firstName}", "title": "sensor test", **fields}
    )
    return int(campaign["id"])


def stats_requests(sandbox: Any) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "stats"]


def test_trigger_waits_until_the_sandbox_campaign_is_sent(sandbox):
    campaign_id = create_campaign(["+15555550101", "+15005550006", "+15555550102"])
    trigger = CcaiCampaignTrigger(campaign_id, "ccai_default", poke_interval=0.2, deadline=time.time() + 60)

    event = first_event(trigger)

    assert event == {
        "status": "success",
        "campaign_id": campaign_id,
        "stats": {"errorCount": 1, "pendingCount": 0, "sendingCount": 0, "sentCount": 2, "totalCount": 3},
    }
    assert stats_requests(sandbox)
    assert all(entry["auth"] == "ok" and entry["status"] == 200 for entry in stats_requests(sandbox))


def test_trigger_reads_the_connection_before_each_poll(sandbox, mocker):
    """As a poke does: a deferred wait of days uses an API key rotated meanwhile from the next poll on."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    sandbox.send_seconds = 1e6  # still sending at the first poll, however late that comes
    campaign_id = create_campaign(["+15555550101", "+15555550102"])
    read_settings = CloudContactHook.aget_settings
    lookups = []

    async def counted_lookup(hook: CloudContactHook) -> Any:
        lookups.append(hook)
        if len(lookups) == 2:
            sandbox.send_seconds = 0  # every message sent by the second poll
        return await read_settings(hook)

    mocker.patch.object(CloudContactHook, "aget_settings", counted_lookup)
    trigger = CcaiCampaignTrigger(campaign_id, "ccai_default", poke_interval=0.2, deadline=time.time() + 60)

    assert first_event(trigger)["status"] == "success"

    assert len(stats_requests(sandbox)) == len(lookups) == 2


def test_trigger_gives_up_at_its_deadline(sandbox):
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    campaign_id = create_campaign(["+15555550101", "+15555550102"], scheduledTimestamp=tomorrow)
    trigger = CcaiCampaignTrigger(campaign_id, "ccai_default", poke_interval=30, deadline=time.time() - 1)

    event = first_event(trigger)

    assert event["status"] == "error" and event["reason"] == "timeout"
    assert event["stats"]["pendingCount"] == 2
    assert f"campaign {campaign_id}" in event["message"] and "2 pending" in event["message"]
    assert len(stats_requests(sandbox)) == 1


def test_a_poll_that_outlasts_the_deadline_ends_in_the_triggers_own_timeout(sandbox, monkeypatch):
    """A slow CCAI must not keep the trigger past the sensor's deferral grace (Airflow 2.11 would retry)."""
    import airflow_provider_ccai.triggers.ccai as trigger_module

    campaign_id = create_campaign(["+15555550101"])
    sandbox.add_fault("stats", "delay", seconds=3)
    monkeypatch.setattr(trigger_module, "POLL_MARGIN", 0.5)
    trigger = CcaiCampaignTrigger(campaign_id, "ccai_default", poke_interval=30, deadline=time.time())

    event = first_event(trigger, limit=20)

    assert event == {
        "status": "error",
        "reason": "timeout",
        "campaign_id": campaign_id,
        "message": f"CCAI campaign {campaign_id}: no stats before the sensor's timeout ran out",
    }
    assert len(stats_requests(sandbox)) == 1


def test_trigger_reports_a_bad_api_key_without_the_key(sandbox, monkeypatch):
    wrong_key = "wrong-key-that-must-not-leak-123456"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CCAI_WRONG", connection_json(sandbox.api_url, sandbox.base_url, wrong_key, max_attempts=1)
    )
    trigger = CcaiCampaignTrigger(1001, "ccai_wrong", poke_interval=0.1, deadline=time.time() + 30)

    event = first_event(trigger)

    assert event["status"] == "error" and event["reason"] == "rejected"
    assert "401" in event["message"]
    assert wrong_key not in json.dumps(event) and SANDBOX_KEY not in json.dumps(event)
    assert [entry["auth"] for entry in stats_requests(sandbox)] == ["invalid"]


def test_trigger_reports_a_missing_connection_as_a_failure_a_retry_may_fix(sandbox):
    """Airflow reports an unreachable secrets backend as a missing connection: the try fails, as in poke mode."""
    event = first_event(CcaiCampaignTrigger(1001, "ccai_not_defined", poke_interval=0.1, deadline=time.time() + 30))

    assert event["status"] == "error" and event["reason"] == "failed"
    assert event["message"].startswith("Connection 'ccai_not_defined' is not defined")
    assert stats_requests(sandbox) == []


def test_trigger_ends_an_unexpected_failure_with_a_redacted_event(mocker):
    """A bug or a library error must end the wait cleanly, and its text may hold what the request held."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    failure = RuntimeError("boom for +15555550101 with Authorization: Bearer abc123def456")
    mocker.patch.object(CloudContactHook, "aget_campaign_stats", side_effect=failure)

    event = first_event(CcaiCampaignTrigger(7, "ccai_default", poke_interval=0, deadline=time.time() + 60))

    assert event["status"] == "error" and event["reason"] == "failed"
    assert event["message"].startswith("RuntimeError: boom for ")
    assert "5555550101" not in event["message"] and "abc123def456" not in event["message"]


def test_a_timeout_inside_a_poll_is_a_failed_poll_not_the_sensors_timeout(mocker):
    """A secrets backend read that times out raises TimeoutError inside the poll; the sensor's own time is not up."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    mocker.patch.object(CloudContactHook, "aget_campaign_stats", side_effect=TimeoutError("backend read timed out"))

    event = first_event(CcaiCampaignTrigger(7, "ccai_default", poke_interval=0, deadline=time.time() + 3600))

    assert event["status"] == "error" and event["reason"] == "failed"
    assert event["message"] == "TimeoutError: backend read timed out"


def test_trigger_hook_params_override_the_connections_attempts(sandbox):
    sandbox.add_fault("stats", "status", times=5, status=503)
    trigger = CcaiCampaignTrigger(1001, "ccai_default", poke_interval=0.1, hook_params={"max_attempts": 1})

    event = first_event(trigger)

    assert event["status"] == "error" and event["reason"] == "failed" and "503" in event["message"]
    assert [entry["status"] for entry in stats_requests(sandbox)] == [503]


def test_trigger_with_silent_fail_logs_a_failed_poll_and_keeps_waiting(sandbox, caplog):
    """As a sensor's ``silent_fail`` does in poke mode: a failure a retry may fix does not end the wait."""
    campaign_id = create_campaign(["+15555550101"])
    sandbox.add_fault("stats", "status", times=2, status=503)
    trigger = CcaiCampaignTrigger(
        campaign_id, poke_interval=0.1, deadline=time.time() + 60, hook_params={"max_attempts": 1}, silent_fail=True
    )

    with capture_logs(caplog) as logs:
        event = first_event(trigger)

    assert event["status"] == "success" and event["stats"]["sentCount"] == 1
    assert [entry["status"] for entry in stats_requests(sandbox)][:3] == [503, 503, 200]
    assert logs.text.count("HTTP 503") == logs.text.count("silent_fail: checking again") == 2


def test_trigger_with_silent_fail_pauses_after_a_failed_poll_even_with_no_poke_interval(mocker):
    """``poke_interval=0`` must not turn an outage into a busy loop of requests and error lines."""
    from airflow_provider_ccai.triggers.ccai import FAILED_POLL_PAUSE

    outage = CcaiTransientError("CCAI GET stats", 503, "busy")
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.aget_campaign_stats = mocker.AsyncMock(side_effect=[outage, outage, stats(sent=1)])
    sleep = mocker.patch("airflow_provider_ccai.triggers.ccai.asyncio.sleep", mocker.AsyncMock())
    trigger = CcaiCampaignTrigger(7, poke_interval=0, deadline=time.time() + 600, silent_fail=True)

    event = first_event(trigger, limit=10)

    assert event["status"] == "success"
    assert [call.args[0] for call in sleep.await_args_list] == [FAILED_POLL_PAUSE, FAILED_POLL_PAUSE]
    assert FAILED_POLL_PAUSE >= 1


@pytest.mark.parametrize("rejection", ["unknown campaign", "wrong key"])
def test_trigger_with_silent_fail_still_ends_on_a_rejection(sandbox, monkeypatch, rejection):
    """Poke mode's silent_fail does not swallow an AirflowFailException either."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_CCAI_WRONG", connection_json(sandbox.api_url, sandbox.base_url, "wrong-key-1234567")
    )
    trigger = CcaiCampaignTrigger(
        999_999 if rejection == "unknown campaign" else 1001,
        "ccai_default" if rejection == "unknown campaign" else "ccai_wrong",
        poke_interval=0.1,
        deadline=time.time() + 60,
        silent_fail=True,
    )

    event = first_event(trigger)

    assert event["status"] == "error" and event["reason"] == "rejected"
    assert len(stats_requests(sandbox)) == 1


def test_trigger_with_silent_fail_still_ends_on_a_connection_it_cannot_use(mocker):
    """A connection without an API key fails every poll alike: the wait ends at once, as a poke fails its task."""
    from airflow_provider_ccai.exceptions import CcaiConnectionError
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    unusable = CcaiConnectionError("Connection 'ccai_default' has no API key (password)")
    stats_call = mocker.patch.object(CloudContactHook, "aget_campaign_stats", side_effect=unusable)

    event = first_event(CcaiCampaignTrigger(7, poke_interval=0, deadline=time.time() + 10, silent_fail=True))

    assert event["status"] == "error" and event["reason"] == "rejected" and "no API key" in event["message"]
    assert stats_call.call_count == 1


def test_a_cancelled_trigger_cancels_its_poll(mocker):
    """The triggerer cancels a trigger (its task was cleared or timed out): the request in flight is cancelled too."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    poll_states: list[str] = []

    async def endless_poll(hook: CloudContactHook, campaign_id: int) -> dict[str, int]:
        poll_states.append("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            poll_states.append("cancelled")
            raise
        return stats(sent=1)

    mocker.patch.object(CloudContactHook, "aget_campaign_stats", endless_poll)

    async def cancel_while_polling() -> None:
        waiting = asyncio.ensure_future(CcaiCampaignTrigger(7, poke_interval=0).run().__anext__())
        for _ in range(100):  # bounded: the poll starts within a few turns of the event loop
            if poll_states:
                break
            await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for _ in range(100):
            if "cancelled" in poll_states:
                break
            await asyncio.sleep(0)
        assert poll_states == ["started", "cancelled"]  # here: asyncio.run cancels what is left when it ends

    asyncio.run(cancel_while_polling())


def test_trigger_with_silent_fail_times_out_naming_the_last_failure(sandbox, mocker):
    sandbox.add_fault("stats", "status", times=100, status=503)
    clock = mocker.patch("airflow_provider_ccai.triggers.ccai.time")  # the trigger's clock only, not the hook's
    # per poll, one reading for its time limit and one after it: the deadline passes during the second poll
    clock.time.side_effect = [1000.0, 1000.0, 1000.0, 1001.0]
    trigger = CcaiCampaignTrigger(
        1001, poke_interval=0.1, deadline=1000.2, hook_params={"max_attempts": 1}, silent_fail=True
    )

    event = first_event(trigger)

    assert event["status"] == "error" and event["reason"] == "timeout"
    assert "503" in event["message"] and event["message"].endswith("; the sensor's timeout ran out")
    assert len(stats_requests(sandbox)) == 2
    assert all(entry["status"] == 503 for entry in stats_requests(sandbox))


def test_trigger_reports_an_unknown_campaign(sandbox):
    event = first_event(CcaiCampaignTrigger(999_999, "ccai_default", poke_interval=0.1, deadline=time.time() + 30))

    assert event["status"] == "error" and event["reason"] == "rejected" and "404" in event["message"]
    assert SANDBOX_KEY not in json.dumps(event)


def test_deferred_sensor_end_to_end_against_the_sandbox(sandbox):
    campaign_id = create_campaign(["+15555550101", "+15005550006", "+15555550102"])
    sensor = CcaiCampaignSensor(
        task_id="wait",
        campaign_id=str(campaign_id),
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
        max_error_ratio=0.5,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    classpath, kwargs = deferred.value.trigger.serialize()
    module, _, name = classpath.rpartition(".")
    trigger = getattr(__import__(module, fromlist=[name]), name)(**kwargs)  # as the triggerer rebuilds it

    event = first_event(trigger)
    result = getattr(sensor, deferred.value.method_name)({}, event)

    assert result["sentCount"] == 2 and result["errorCount"] == 1 and result["pendingCount"] == 0
    strict = CcaiCampaignSensor(task_id="strict", campaign_id=campaign_id, max_error_ratio=0.1)
    with pytest.raises(AirflowFailException, match="1 of 3 messages failed"):
        strict.execute_complete({}, event)


def test_sync_sensor_end_to_end_against_the_sandbox(sandbox):
    campaign_id = create_campaign(["+15555550101", "+15555550102"])
    sensor = CcaiCampaignSensor(task_id="wait", campaign_id=campaign_id, poke_interval=0.2, timeout=60)

    result = sensor.execute({})

    assert result == {"errorCount": 0, "pendingCount": 0, "sendingCount": 0, "sentCount": 2, "totalCount": 2}


def test_example_dag_waits_on_the_create_task_in_the_triggerer():
    from airflow_provider_ccai.example_dags.example_ccai_campaign_sensor import dag

    wait = dag.get_task("wait_until_sent")
    assert isinstance(wait, CcaiCampaignSensor)
    assert wait.deferrable is True and wait.timeout == 300 and wait.poke_interval == 2
    assert wait.upstream_task_ids == {"send_reminder"}
