"""
A missed Deadline Alert texts on-call: Airflow's own callback trigger runs ``CcaiNotifier`` against the sandbox.

The DAG is the example DAG, parsed by ``DagBag`` as the DAG processor parses it. The trigger is the one the
triggerer runs for an ``AsyncCallback`` (``CallbackTrigger`` on 3.2+, ``DeadlineCallbackTrigger`` on 3.1),
built from the alert's callback path and kwargs plus the context the scheduler adds, and passed through
``serialize()`` as the triggerer stores it. Only collected on Airflow 3 (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_DAGS, parse_dag_folder

pytestmark = pytest.mark.integration

ON_CALL = "+15555550199"
RUN_ID = "scheduled__2026-01-05T05:00:00+00:00"


def _callback_trigger_class() -> Any:
    try:
        from airflow.triggers.callback import CallbackTrigger
    except ImportError:  # Airflow 3.1
        from airflow.triggers.deadline import DeadlineCallbackTrigger

        return DeadlineCallbackTrigger
    return CallbackTrigger


def _example_alert() -> Any:
    bag = parse_dag_folder(EXAMPLE_DAGS / "example_ccai_deadline_alert.py")
    assert bag.import_errors == {}
    (alert,) = bag.dags["example_ccai_deadline_alert"].deadline
    return alert


def _run_in_triggerer(callback_path: str, callback_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the callback trigger as the triggerer would, after a serialise round trip; return event payloads."""
    classpath, kwargs = _callback_trigger_class()(callback_path, callback_kwargs).serialize()
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout=120))  # bounded: a hung callback fails the test


def _state(event: dict[str, Any]) -> str:
    return str(getattr(event["state"], "value", event["state"]))


def _scheduler_context() -> dict[str, Any]:
    """The simple context the scheduler adds to a missed deadline's callback kwargs."""
    return {
        "dag_run": {"dag_id": "example_ccai_deadline_alert", "dag_run_id": RUN_ID, "state": "running"},
        "deadline": {"id": "019a0000-0000-7000-8000-000000000001", "deadline_time": "2026-01-05T06:00:00+00:00"},
    }


def test_missed_deadline_sends_one_text_with_the_default_message(sandbox):
    alert = _example_alert()

    events = _run_in_triggerer(alert.callback.path, {**alert.callback.kwargs, "context": _scheduler_context()})

    assert [_state(event) for event in events] == ["running", "success"], events[-1]
    (campaign,) = sandbox.campaigns()
    assert [account["phone"] for account in campaign["accounts"]] == [ON_CALL]
    assert campaign["message"] == f"Airflow: example_ccai_deadline_alert missed its deadline, run {RUN_ID}"
    assert campaign["title"] == "Airflow alert"
    creates = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "create_campaign"]
    assert len(creates) == 1 and creates[0]["auth"] == "ok"


def test_a_bad_phone_fails_the_callback_before_any_request(sandbox):
    alert = _example_alert()
    kwargs = {**alert.callback.kwargs, "phones": ["0555 0199"], "context": _scheduler_context()}

    events = _run_in_triggerer(alert.callback.path, kwargs)

    assert _state(events[-1]) == "failed"
    assert "phones[0]: not in E.164 format" in events[-1]["body"]
    assert sandbox.requests_seen() == []
