"""CcaiNotifier: rendering in task and DAG callbacks, phone validation, and real sends to the sandbox."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from airflow import __version__ as airflow_version
from airflow.providers.common.compat import connection as compat_connection
from packaging.version import Version

from airflow_provider_ccai.exceptions import CcaiAmbiguousResultError, CcaiApiError, CcaiInputError
from airflow_provider_ccai.get_provider_info import get_provider_info
from airflow_provider_ccai.notifications.ccai import (
    DEFAULT_MESSAGE,
    CcaiNotifier,
    send_ccai_notification,
)
from airflow_provider_ccai.version_compat import AIRFLOW_V_3_0_PLUS, BaseNotifier
from tests.conftest import SANDBOX_KEY, connection_json
from tests.unit import capture_logs

try:
    from airflow.sdk import DAG, BaseHook
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[assignment]
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

#: Airflow 3.3.2 made ``BaseHook.aget_connection`` safe on a running loop; before it, the compat helper
#: runs the synchronous lookup in a worker thread instead, and so does the hook when common-compat is older
#: than 1.23 (what Python 3.10 resolves), which lacks ``get_async_extra_dejson``.
ASYNC_LOOKUP_IS_SAFE = Version(airflow_version) >= Version("3.3.2") and hasattr(
    compat_connection, "get_async_extra_dejson"
)
ON_CALL = "+15555550199"
BACKUP = "+15555550198"


@pytest.fixture
def dag() -> Any:
    return DAG(dag_id="nightly_etl", schedule=None)


def task_context(dag: Any, **extra: Any) -> dict[str, Any]:
    """What a task's on_failure_callback gets, reduced to what the notifier reads."""
    ti = SimpleNamespace(task_id="load", state="failed", log_url="http://airflow.test/log?task=load")
    return {"dag": dag, "ti": ti, "task_instance": ti, "run_id": "manual__2026-01-01", **extra}


def sent_campaigns(sandbox: Any) -> list[dict[str, Any]]:
    return sandbox.campaigns()


def phones_of(campaign: dict[str, Any]) -> list[str]:
    return [account["phone"] for account in campaign["accounts"]]


# -- through the callback entry point, against the sandbox -----------------------------------------


def test_task_callback_sends_one_campaign_with_the_rendered_message(sandbox, dag):
    notifier = CcaiNotifier(
        phones=[ON_CALL, BACKUP],
        message="{{ ti.task_id }} failed in {{ dag.dag_id }} ({{ run_id }})",
        title="Alert {{ dag.dag_id }}",
    )

    notifier(task_context(dag))

    campaigns = sent_campaigns(sandbox)
    assert len(campaigns) == 1
    campaign = campaigns[0]
    assert phones_of(campaign) == [ON_CALL, BACKUP]
    assert campaign["message"] == "load failed in nightly_etl (manual__2026-01-01)"
    assert campaign["title"] == "Alert nightly_etl"
    assert {(a["firstName"], a["lastName"]) for a in campaign["accounts"]} == {("Airflow", "On-call")}
    creates = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "create_campaign"]
    assert len(creates) == 1 and creates[0]["auth"] == "ok"
    assert "session" not in vars(notifier.hook)  # closed: a DAG processor would keep its connection open


def test_one_notifier_renders_each_callback_from_its_templates(sandbox, dag):
    """The DAG processor may hand one notifier several callbacks: each text names its own run."""
    notifier = CcaiNotifier(phones="{{ params.on_call }}", message="{{ run_id }} failed", title="{{ run_id }}")

    for run_id, phone in (("run_1", ON_CALL), ("run_2", BACKUP)):
        notifier(task_context(dag, run_id=run_id, params={"on_call": phone}))

    sent = [(c["message"], c["title"], phones_of(c)) for c in sent_campaigns(sandbox)]
    assert sent == [("run_1 failed", "run_1", [ON_CALL]), ("run_2 failed", "run_2", [BACKUP])]
    assert (notifier.message, notifier.phones) == ("{{ run_id }} failed", "{{ params.on_call }}")


def test_default_message_in_a_task_callback(sandbox, dag):
    CcaiNotifier(phones=ON_CALL)(task_context(dag))

    (campaign,) = sent_campaigns(sandbox)
    assert campaign["message"] == (
        "Airflow: nightly_etl.load failed, run manual__2026-01-01 http://airflow.test/log?task=load"
    )
    assert campaign["title"] == "Airflow alert"


@pytest.mark.parametrize(
    "callback_dag",
    [
        pytest.param(DAG(dag_id="nightly_etl", schedule=None), id="dag"),
        # Airflow 3's dag.test() hands DAG callbacks a SerializedDAG, which cannot build a Jinja env
        pytest.param(
            SimpleNamespace(dag_id="nightly_etl", render_template_as_native_obj=False), id="dag-without-template-env"
        ),
    ],
)
def test_default_message_in_a_dag_callback_without_ti(sandbox, callback_dag):
    """Airflow 3's DAG callbacks may get only dag, run_id and reason."""
    CcaiNotifier(phones=[ON_CALL])({"dag": callback_dag, "run_id": "scheduled__x", "reason": "task_failure"})

    (campaign,) = sent_campaigns(sandbox)
    assert campaign["message"] == "Airflow: nightly_etl task_failure, run scheduled__x"


def test_default_message_without_dag_or_dag_run_still_renders():
    notifier = CcaiNotifier(phones=[ON_CALL])
    notifier.render_template_fields({"run_id": "manual__1"})

    assert notifier.message == "Airflow: unknown DAG, run manual__1"


def test_default_message_with_only_the_dag(dag):
    notifier = CcaiNotifier(phones=[ON_CALL])
    notifier.render_template_fields({"dag": dag})

    assert notifier.message == "Airflow: nightly_etl"
    assert notifier.message != DEFAULT_MESSAGE


def test_phones_from_a_template_string_are_split_and_deduplicated(sandbox, dag):
    notifier = CcaiNotifier(phones="{{ params.on_call }}")

    notifier(task_context(dag, params={"on_call": f"{ON_CALL}, {BACKUP};{ON_CALL}"}))

    (campaign,) = sent_campaigns(sandbox)
    assert phones_of(campaign) == [ON_CALL, BACKUP]


def test_phones_split_on_spaces_and_items_are_stripped():
    assert [a["phone"] for a in CcaiNotifier(phones=f"{ON_CALL} {BACKUP}").build_payload()["accounts"]] == [
        ON_CALL,
        BACKUP,
    ]
    assert [a["phone"] for a in CcaiNotifier(phones=[f" {ON_CALL}\t"]).build_payload()["accounts"]] == [ON_CALL]


def test_phones_rendered_as_a_list_literal(dag):
    notifier = CcaiNotifier(phones=f'["{ON_CALL}", "{BACKUP}"]')
    notifier.render_template_fields(task_context(dag))

    assert [a["phone"] for a in notifier.build_payload()["accounts"]] == [ON_CALL, BACKUP]


# -- validation: nothing is sent ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phones", "match"),
    [
        ([ON_CALL, "555-0199"], r"^phones\[1\]: not in E.164"),
        (["+1 555 555 0199"], r"^phones\[0\]: not in E.164"),
        ([ON_CALL, 15555550199], r"^phones\[1\]: expected a string"),
        ([], r"^phones: no phone numbers"),
        ("", r"^phones: no phone numbers"),
        ({"phone": ON_CALL}, r"^phones: expected a list"),
        ("[not a list", r"^phones: rendered text looks like a list"),
    ],
)
def test_invalid_phones_fail_before_any_request(sandbox, dag, phones, match):
    notifier = CcaiNotifier(phones=phones)
    notifier.render_template_fields(task_context(dag))

    with pytest.raises(CcaiInputError, match=match) as error:
        notifier.notify(task_context(dag))
    assert "555-0199" not in str(error.value) and "555 555" not in str(error.value)
    assert sandbox.requests_seen() == []


def test_invalid_phone_through_the_callback_sends_nothing(sandbox, dag, caplog):
    """Airflow 3's BaseNotifier re-raises, 2.11's logs the error: either way nothing is sent."""
    notifier = CcaiNotifier(phones=["0199"])
    with capture_logs(caplog) as logs:
        if AIRFLOW_V_3_0_PLUS:
            with pytest.raises(CcaiInputError, match=r"^phones\[0\]: not in E\.164"):
                notifier(task_context(dag))
        else:
            notifier(task_context(dag))
            assert "Failed to send notification: phones[0]: not in E.164" in logs.text
    assert logs.messages  # the notifier logged (so the check below looks at something)
    assert "0199" not in logs.text
    assert sandbox.requests_seen() == []


@pytest.mark.parametrize(("field", "value"), [("message", "   "), ("title", ""), ("message", None)])
def test_empty_message_or_title_fails(sandbox, dag, field, value):
    notifier = CcaiNotifier(phones=[ON_CALL], **{field: value})
    notifier.render_template_fields(task_context(dag))

    with pytest.raises(CcaiInputError, match=f"^{field}:"):
        notifier.notify(task_context(dag))
    assert sandbox.requests_seen() == []


def test_a_native_rendering_dag_still_texts_the_rendered_text(sandbox):
    """Natively a phone would render to an int and "0042" to 42: the notifier renders text."""
    native = DAG(
        dag_id="nightly_etl",
        schedule=None,
        render_template_as_native_obj=True,
        user_defined_macros={"backup": BACKUP},
    )
    notifier = CcaiNotifier(phones=[ON_CALL, "{{ backup }}"], message="{{ params.code }}", title="{{ 7 }}")

    notifier({"dag": native, "run_id": "r1", "params": {"code": "0042"}})

    (campaign,) = sent_campaigns(sandbox)
    assert phones_of(campaign) == [ON_CALL, BACKUP]
    assert (campaign["message"], campaign["title"]) == ("0042", "7")


def test_a_native_rendering_dags_templates_stay_sandboxed(sandbox):
    """A message template may come from a Variable or params: it must not reach Python internals."""
    from jinja2.exceptions import SecurityError

    native = DAG(dag_id="nightly_etl", schedule=None, render_template_as_native_obj=True)
    notifier = CcaiNotifier(phones=[ON_CALL], message="{{ ''.__class__.__mro__[1].__subclasses__() }}")

    with pytest.raises(SecurityError):
        notifier.render_template_fields({"dag": native, "run_id": "r1"})
    assert sent_campaigns(sandbox) == []


@pytest.mark.parametrize("template", ["{{ params.empty }}", "{% if false %}x{% endif %}"])
@pytest.mark.parametrize("field", ["message", "title"])
def test_a_field_that_renders_empty_fails_instead_of_sending_its_template(dag, field, template):
    """Airflow 2.11 keeps a template's source when it renders empty; the notifier must not text that source."""
    notifier = CcaiNotifier(phones=[ON_CALL], **{field: template})
    notifier.render_template_fields(task_context(dag, params={"empty": ""}))

    assert getattr(notifier, field) == ""
    with pytest.raises(CcaiInputError, match=f"{field}: must not be empty"):
        notifier.build_payload()


def test_a_phone_template_that_fails_to_render_logs_no_phone(dag, caplog):
    from jinja2 import StrictUndefined, UndefinedError

    strict = DAG(dag_id="nightly_etl", schedule=None, template_undefined=StrictUndefined)
    notifier = CcaiNotifier(phones=[ON_CALL, "{{ backup_phone }}"])
    with capture_logs(caplog) as logs, pytest.raises(UndefinedError, match="backup_phone"):
        notifier.render_template_fields({"dag": strict, "run_id": "r1"})
    assert ON_CALL not in logs.text


def test_a_rejected_key_is_reported_without_the_key(sandbox, dag, monkeypatch):
    wrong_key = "wrong-notifier-key-987654321"
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_WRONG", connection_json(sandbox.api_url, sandbox.base_url, wrong_key))
    notifier = CcaiNotifier(phones=[ON_CALL], ccai_conn_id="ccai_wrong")
    notifier.render_template_fields(task_context(dag))

    with pytest.raises(CcaiApiError, match="401") as error:
        notifier.notify(task_context(dag))
    assert wrong_key not in str(error.value) and SANDBOX_KEY not in str(error.value)
    assert sent_campaigns(sandbox) == []


# -- async_notify: the triggerer's entry point (Deadline Alerts on Airflow 3.1+) -------------------


def deadline_context() -> dict[str, Any]:
    """
    What Airflow 3.1+ passes a Deadline Alert callback: the DAG run as JSON and the deadline.

    ``dag`` is None so that Airflow 2.11's ``render_template_fields`` (which indexes it) can render too;
    the integration test runs Airflow's own callback trigger with the context exactly as 3.x builds it.
    """
    return {
        "dag": None,
        "dag_run": {"dag_id": "nightly_etl", "dag_run_id": "scheduled__2026-01-01", "state": "running"},
        "deadline": {"id": "0192", "deadline_time": "2026-01-01T01:00:00+00:00"},
    }


def test_async_notify_sends_one_campaign_with_the_deadline_message(sandbox):
    notifier = CcaiNotifier(phones=[ON_CALL, BACKUP, ON_CALL])
    notifier.render_template_fields(deadline_context())

    asyncio.run(notifier.async_notify(deadline_context()))

    (campaign,) = sent_campaigns(sandbox)
    assert phones_of(campaign) == [ON_CALL, BACKUP]
    assert campaign["message"] == "Airflow: nightly_etl missed its deadline, run scheduled__2026-01-01"
    creates = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "create_campaign"]
    assert len(creates) == 1 and creates[0]["auth"] == "ok"
    assert "session" not in vars(notifier.hook)  # closed: the triggerer lives on


def test_async_notify_checks_phones_before_any_request(sandbox):
    notifier = CcaiNotifier(phones=[ON_CALL, "5555550198"])
    notifier.render_template_fields(deadline_context())

    with pytest.raises(CcaiInputError, match=r"^phones\[1\]: not in E.164"):
        asyncio.run(notifier.async_notify(deadline_context()))
    assert sandbox.requests_seen() == []


def test_async_notify_never_resends_after_a_lost_response(sandbox):
    """CCAI created the campaign and the connection dropped: the async path raises and sends once."""
    sandbox.add_fault("create_campaign", "reset_after", times=1)
    notifier = CcaiNotifier(phones=[ON_CALL])
    notifier.render_template_fields(deadline_context())

    with pytest.raises(CcaiAmbiguousResultError):
        asyncio.run(notifier.async_notify(deadline_context()))
    creates = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "create_campaign"]
    assert len(creates) == 1
    assert len(sent_campaigns(sandbox)) == 1


#: Airflow 3.3+ lets the triggerer register a secret from its event loop; 3.1 and 3.2 offer no public way
HAS_ASYNC_MASKER = Version(airflow_version) >= Version("3.3")


def patch_maskers(mocker: Any) -> tuple[Any, Any]:
    """
    Patch Airflow's secrets masker: return ``(mask_secret, amask_secret)``, the second ``None`` before Airflow 3.3.

    The synchronous ``mask_secret`` is patched, with one mock, under every name the notifier could reach it by.
    """
    from airflow_provider_ccai import version_compat

    masker = mocker.MagicMock(name="mask_secret")
    home = version_compat.mask_secret.__module__  # airflow.sdk.log (3.x) or airflow.utils.log.secrets_masker (2.11)
    mocker.patch(f"{home}.mask_secret", masker)
    mocker.patch("airflow_provider_ccai.version_compat.mask_secret", masker)
    async_masker = (
        mocker.patch("airflow.sdk.log.amask_secret", new_callable=mocker.AsyncMock) if HAS_ASYNC_MASKER else None
    )
    return masker, async_masker


def masked_values(masker: Any) -> list[Any]:
    return [call.args[0] for call in masker.call_args_list]


def assert_masked(sync: bool, maskers: tuple[Any, Any], phones: list[str]) -> None:
    """
    The sync path registers the phones with ``mask_secret``; the async path with ``amask_secret`` (3.3+), and
    never with ``mask_secret``: from the triggerer's event loop that can deadlock (see ``CcaiNotifier._amask_phones``).
    """
    masker, async_masker = maskers
    if sync:
        assert masked_values(masker) == phones
        return
    assert masked_values(masker) == []  # on 2.11, 3.1 and 3.2 too, where nothing is masked on this path
    if async_masker is not None:
        assert masked_values(async_masker) == phones


@pytest.mark.parametrize("entry", ["notify", "async_notify"])
def test_phones_are_masked_before_a_failing_send(sandbox, dag, mocker, entry):
    """Airflow's triggerer logs a failed Deadline Alert callback with its kwargs: the phones must be masked."""
    maskers = patch_maskers(mocker)
    notifier = CcaiNotifier(phones=f" {ON_CALL}, {BACKUP}, 12345678 ")  # a bad third phone: nothing is sent
    context = task_context(dag) if entry == "notify" else deadline_context()
    notifier.render_template_fields(context)

    with pytest.raises(CcaiInputError, match=r"^phones\[2\]"):
        if entry == "notify":
            notifier.notify(context)
        else:
            asyncio.run(notifier.async_notify(context))

    assert_masked(entry == "notify", maskers, [ON_CALL, BACKUP, "12345678"])
    assert sandbox.requests_seen() == []


@pytest.mark.parametrize(
    ("phones", "masked"),
    [
        pytest.param("+1 555 555 0199, +1 555 555 0198", ["+1 555 555 0199", "+1 555 555 0198"], id="not E.164"),
        pytest.param([15555550199], ["15555550199"], id="an int: [+15555550199] in Python"),
        pytest.param("+15555550199|+15555550198", ["+15555550199", "+15555550198"], id="another separator"),
    ],
)
def test_invalid_phones_are_masked_however_they_are_written(sandbox, dag, mocker, phones, masked):
    """Invalid phones are what fail the callback, and Airflow logs them with its kwargs."""
    maskers = patch_maskers(mocker)
    notifier = CcaiNotifier(phones=phones)
    context = task_context(dag)
    notifier.render_template_fields(context)

    with pytest.raises(CcaiInputError, match=r"^phones\[0\]"):
        notifier.notify(context)

    assert_masked(True, maskers, masked)
    assert sandbox.requests_seen() == []


#: how Airflow runs a notifier: called in a task or DAG callback; awaited in the triggerer (3.1+, Deadline Alerts)
ENTRY_POINTS = ["called", *(["awaited"] if hasattr(BaseNotifier, "__await__") else [])]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_phones_are_masked_before_a_template_fails_to_render(sandbox, dag, mocker, entry):
    """Rendering comes first in Airflow's entry points, and its failure is logged with the kwargs (triggerer)."""
    maskers = patch_maskers(mocker)
    phones = f"{ON_CALL}; {{{{ 'backup phone' | lower }}}}"  # template text is not masked

    with pytest.raises(ZeroDivisionError):
        if entry == "called":
            CcaiNotifier(phones=phones, message="{{ 1 / 0 }}")(task_context(dag))
        else:

            async def trigger() -> None:
                await CcaiNotifier(phones=phones, message="{{ 1 / 0 }}", context=deadline_context())

            asyncio.run(trigger())

    assert_masked(entry == "called", maskers, [ON_CALL])
    assert sandbox.requests_seen() == []


def test_async_notify_reads_the_connection_through_the_async_lookup(sandbox, mocker):
    """The triggerer must not look the connection up synchronously from its loop: one async lookup only."""
    from airflow_provider_ccai.hooks.ccai import CloudContactHook

    async_lookup = mocker.spy(CloudContactHook, "aget_settings")
    sync_lookup = mocker.spy(BaseHook, "get_connection")
    notifier = CcaiNotifier(phones=[ON_CALL])
    notifier.render_template_fields(deadline_context())

    asyncio.run(notifier.async_notify(deadline_context()))

    assert async_lookup.call_count == 1
    assert sync_lookup.call_count == (0 if ASYNC_LOOKUP_IS_SAFE else 1)
    assert len(sent_campaigns(sandbox)) == 1


# -- hook_params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected_call"),
    [
        ({}, mock.call("ccai_default")),
        (
            {"ccai_conn_id": "ccai_other", "hook_params": {"timeout": 60, "max_attempts": 2}},
            mock.call("ccai_other", timeout=60, max_attempts=2),
        ),
    ],
)
def test_the_hook_gets_the_connection_and_hook_params(dag, mocker, arguments, expected_call):
    hook_class = mocker.patch("airflow_provider_ccai.hooks.ccai.CloudContactHook")
    hook_class.return_value.create_campaign.return_value = {"id": 5}
    notifier = CcaiNotifier(phones=[ON_CALL], **arguments)
    notifier.render_template_fields(task_context(dag))

    notifier.notify(task_context(dag))

    assert hook_class.call_args_list == [expected_call]
    hook_class.return_value.create_campaign.assert_called_once()


def test_hook_params_override_the_connections_attempts(sandbox, dag):
    """A 429 on create is retried by default; with max_attempts=1 the notifier sends one request and fails."""
    sandbox.add_fault("create_campaign", "status", times=5, status=429)
    notifier = send_ccai_notification(phones=[ON_CALL], hook_params={"max_attempts": 1})
    notifier.render_template_fields(task_context(dag))

    with pytest.raises(CcaiApiError, match="429"):
        notifier.notify(task_context(dag))
    creates = [entry for entry in sandbox.requests_seen() if entry["endpoint"] == "create_campaign"]
    assert [entry["status"] for entry in creates] == [429]
    assert sent_campaigns(sandbox) == []


# -- construction ---------------------------------------------------------------------------------


def test_creating_the_notifier_looks_nothing_up():
    with mock.patch.object(BaseHook, "get_connection") as get_connection:
        notifier = CcaiNotifier(phones=[ON_CALL], ccai_conn_id="does_not_exist", hook_params={"timeout": 60})
    assert get_connection.call_count == 0
    assert notifier.phones == [ON_CALL] and notifier.ccai_conn_id == "does_not_exist"


def test_templated_fields_and_alias():
    assert CcaiNotifier.template_fields == ("phones", "message", "title")
    assert send_ccai_notification is CcaiNotifier


def test_provider_info_names_the_notifier():
    (path,) = get_provider_info()["notifications"]
    module, _, name = path.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is CcaiNotifier


def test_example_dag_alerts_on_dag_and_task_failure():
    from airflow_provider_ccai.example_dags.example_ccai_notifier import dag

    def notifiers(callback: Any) -> list[Any]:
        callbacks = callback if isinstance(callback, list) else [callback]
        return [c for c in callbacks if isinstance(c, CcaiNotifier)]

    assert [n.phones for n in notifiers(dag.on_failure_callback)] == [[ON_CALL]]
    assert len(notifiers(dag.get_task("flaky_step").on_failure_callback)) == 1


def test_only_phones_may_be_given_by_position() -> None:
    """The order of the other arguments is not part of the API, as with Airflow's own notifiers."""
    assert CcaiNotifier("+15555550199").phones == "+15555550199"
    with pytest.raises(TypeError):
        CcaiNotifier("+15555550199", "message")  # type: ignore[misc]


def test_default_message_shows_the_state_by_its_value_with_airflows_own_state_enum(sandbox, dag):
    """Airflow 3 hands callbacks a ``TaskInstanceState`` that ``str()`` shows as ``TaskInstanceState.FAILED``."""
    try:
        from airflow.sdk.api.datamodels._generated import TaskInstanceState
    except ImportError:  # Airflow 2.11
        from airflow.utils.state import TaskInstanceState  # type: ignore[no-redef]

    context = task_context(dag)
    context["ti"].state = TaskInstanceState.FAILED
    CcaiNotifier(phones=ON_CALL)(context)

    (campaign,) = sent_campaigns(sandbox)
    assert campaign["message"].startswith("Airflow: nightly_etl.load failed, run manual__2026-01-01 ")
