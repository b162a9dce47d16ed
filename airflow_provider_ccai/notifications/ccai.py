"""Notifier that texts Airflow alerts to on-call phones through CloudContactAI."""

from __future__ import annotations

import copy
import re
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

# The provider's exceptions are imported where raised: that module adds 0.15-0.3 ms to every DAG-file parse.
from airflow_provider_ccai.utils.hook_mixin import CcaiHookMixin
from airflow_provider_ccai.version_compat import BaseNotifier

if TYPE_CHECKING:
    from airflow_provider_ccai.version_compat import Context

#: Default SMS text. Every name is guarded, so it renders in task callbacks (``ti`` set), DAG callbacks
#: (``reason`` set; ``ti`` may be missing), Deadline Alerts (``dag_run`` as a dict and ``deadline``)
#: and with Airflow's ``StrictUndefined`` templates. A state is shown by its value (``failed``): Airflow 3's
#: ``TaskInstanceState`` renders as ``TaskInstanceState.FAILED`` otherwise.
DEFAULT_MESSAGE = (
    "Airflow: {% if dag is defined and dag %}{{ dag.dag_id }}"
    "{% elif dag_run is defined and dag_run and dag_run.dag_id is defined %}{{ dag_run.dag_id }}"
    "{% else %}unknown DAG{% endif %}"
    "{% if reason is defined and reason %} {{ reason }}"
    "{% elif deadline is defined and deadline %} missed its deadline"
    "{% elif ti is defined and ti %}.{{ ti.task_id }}"
    "{% if ti.state is defined and ti.state %} {{ ti.state.value if ti.state.value is defined else ti.state }}"
    "{% endif %}{% endif %}"
    "{% if run_id is defined and run_id %}, run {{ run_id }}"
    "{% elif dag_run is defined and dag_run and dag_run.dag_run_id is defined %}"
    ", run {{ dag_run.dag_run_id }}{% endif %}"
    "{% if ti is defined and ti and ti.log_url is defined %} {{ ti.log_url }}{% endif %}"
)
DEFAULT_TITLE = "Airflow alert"
#: Name the recipients get in CCAI (``${firstName}`` / ``${lastName}`` in the message).
FIRST_NAME = "Airflow"
LAST_NAME = "On-call"
#: What may separate the phones of a string (compiled on first use, not at DAG-parse time).
_SEPARATORS = r"[\s,;]+"


class CcaiNotifier(CcaiHookMixin, BaseNotifier):
    """
    Send an SMS through CloudContactAI: one campaign to all ``phones``, from a task or DAG callback.

    Use it as ``on_failure_callback`` / ``on_success_callback`` (or any other ``on_*_callback``) of a
    task or a DAG. Nothing is looked up when it is created; the phones are checked (E.164, duplicates
    dropped) before anything is sent, and errors name the position of a bad phone, never the number.
    The default message names the DAG, the task (task callbacks) or the reason (DAG callbacks), the run
    and the task's log URL. On Airflow 2.11 ``BaseNotifier`` logs a failing send instead of raising it
    (a template that fails to render still raises; Airflow logs that as a failed callback).
    On Airflow 3.1+ it also runs in the triggerer as a Deadline Alert callback (:meth:`async_notify`).

    .. code-block:: python

        DAG(..., on_failure_callback=CcaiNotifier(phones=["+15555550199"]))

    :param phones: E.164 numbers to text: a list, or one string of numbers separated by commas,
        semicolons or spaces (or a rendered JSON list). (templated)
    :param message: SMS text (Jinja, rendered with the callback's context); default
        :data:`DEFAULT_MESSAGE`. (templated)
    :param title: campaign title shown in CCAI. (templated)
    :param ccai_conn_id: the ``ccai`` connection.
    :param hook_params: keyword arguments for :class:`CloudContactHook` that override the connection's
        extras, e.g. ``{"timeout": 60, "connect_timeout": 5, "max_attempts": 3}``.
    :param context: the context Airflow 3.1+ passes when the triggerer builds the notifier for a Deadline
        Alert; leave it unset elsewhere.
    """

    template_fields: Sequence[str] = ("phones", "message", "title")

    def __init__(
        self,
        phones: list[str] | tuple[str, ...] | str,
        *,
        message: str = DEFAULT_MESSAGE,
        title: str = DEFAULT_TITLE,
        ccai_conn_id: str = "ccai_default",
        hook_params: dict[str, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if context is None:
            super().__init__()
        else:  # Airflow 3.1+ (Deadline Alerts); BaseNotifier on 2.11 takes no context
            super().__init__(context=context)
        self.phones = phones
        self.message = message
        self.title = title
        self.ccai_conn_id = ccai_conn_id
        self.hook_params = hook_params or {}

    def __call__(self, *args: Any) -> None:
        """
        Render and send from a copy: ``BaseNotifier`` renders the fields in place, and one instance may serve
        several callbacks (the DAG processor runs a batch against one parsed DAG), each needing the templates.

        :param args: what Airflow passes a callback (the context).
        """
        self._mask_phones()  # before rendering, which may fail too
        BaseNotifier.__call__(copy.copy(self), *args)

    def __await__(self) -> Generator[Any, None, None]:
        """
        Mask the phones (:meth:`_amask_phones`), then render and send as ``BaseNotifier`` does: how Airflow
        3.1+'s triggerer runs a Deadline Alert callback, whose failure, in rendering too, it logs with the kwargs.
        """
        yield from self._amask_phones().__await__()
        return (yield from super().__await__())

    def get_template_env(self, dag: Any = None) -> Any:
        """
        Return the DAG's Jinja environment (its macros and filters) as a text one, or a sandboxed default.

        Always text, also under ``render_template_as_native_obj=True``: native rendering turns a phone
        like ``"+15555550199"`` into an int. Airflow 3's ``dag.test()`` passes a ``SerializedDAG`` (no
        ``get_template_env``) to DAG callbacks; the default environment serves it.

        :param dag: the DAG from the callback's context.
        """
        if dag is not None and hasattr(dag, "get_template_env"):
            return dag.get_template_env(force_sandboxed=True)
        return super().get_template_env(dag=None)

    def _render(self, template: Any, context: Any, dag: Any = None) -> Any:
        """Render to text, never to native objects (see :meth:`get_template_env`)."""
        return super(BaseNotifier, self)._render(template, context, None)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """
        Render every templated field and keep the result, even an empty one.

        Airflow 2.11 keeps a field's template source when it renders empty, which would text the raw
        Jinja to on-call; here an empty message or phone list fails validation instead. Errors come
        from Jinja alone: Airflow's own rendering would log the unrendered field, phones included.

        :param context: the callback's context.
        :param jinja_env: the Jinja environment; default :meth:`get_template_env` of the context's DAG.
        """
        environment = jinja_env or self.get_template_env(dag=context.get("dag"))
        for name in self.template_fields:
            setattr(self, name, self.render_template(getattr(self, name), context, environment, set()))

    def notify(self, context: Context) -> None:
        """
        Validate the rendered fields and create one SMS campaign to ``phones``.

        :param context: the callback's context (fields are already rendered by ``BaseNotifier``).
        """
        self._mask_phones()
        payload = self.build_payload()
        hook = self.hook
        try:
            self._log_sent(hook.create_campaign(payload), payload)
        finally:  # DAG callbacks run in long-lived processes (the DAG processor): do not wait for the collector
            hook.close()

    async def async_notify(self, context: Context) -> None:
        """
        Send the same SMS from the triggerer, e.g. as a Deadline Alert callback, without blocking its loop.

        :param context: the context Airflow hands the notifier (fields are already rendered).
        """
        await self._amask_phones()
        payload = self.build_payload()
        hook = self.hook
        try:
            self._log_sent(await hook.acreate_campaign(payload), payload)
        finally:  # the triggerer lives on
            hook.close()

    def _mask_phones(self) -> None:
        """
        Register the phones with Airflow's secrets masker (:meth:`_phones_to_mask`), from a task or DAG callback.
        """
        from airflow_provider_ccai.version_compat import mask_secret

        for phone in self._phones_to_mask():
            mask_secret(phone)

    async def _amask_phones(self) -> None:
        """
        Register the phones with Airflow's secrets masker from the triggerer's event loop, where Airflow 3.3+
        offers ``amask_secret``. Airflow 3.1 and 3.2 offer no public way there: their ``mask_secret`` talks to the
        triggerer's supervisor synchronously, which from the loop can deadlock and from a thread scrambled the
        triggerer's channel on 3.1 (it died); on those versions the triggerer's log of a failed callback may show
        the phones.
        """
        try:
            from airflow.sdk.log import amask_secret
        except ImportError:  # Airflow 3.1, 3.2 (and 2.11, which runs no notifier in a triggerer)
            return
        for phone in self._phones_to_mask():
            await amask_secret(phone)

    def _phones_to_mask(self) -> list[str]:
        """
        Return what in ``phones`` may be a phone number, which Airflow logs with a failed Deadline Alert
        callback's kwargs: its phone-shaped items (7 or more digits, with ``+``, spaces, dots, dashes or
        parentheses), and every run of 7 or more digits in its text however it is written (other separators,
        a number as an int); not template text or other words. Invalid phones are what make the callback fail.
        """
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.redact import phone_runs, phone_shaped

        try:
            items = [phone.strip() for phone in _phone_list(self.phones) if phone_shaped(phone)]
        except CcaiInputError:  # not a list of phones: build_payload says so, naming no number
            items = []
        text = self.phones if isinstance(self.phones, str) else repr(self.phones)
        return list(dict.fromkeys([*items, *phone_runs(text)]))

    def _log_sent(self, campaign: dict[str, Any], payload: dict[str, Any]) -> None:
        self.log.info("Sent CCAI alert campaign %s to %d phone(s)", campaign.get("id"), len(payload["accounts"]))

    def build_payload(self) -> dict[str, Any]:
        """Return the ``campaigns/direct`` body for the rendered fields, or raise naming the bad field."""
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.recipients import E164
        from airflow_provider_ccai.utils.validation import required_text

        message = required_text(self.message, "message").strip()
        title = required_text(self.title, "title").strip()
        phones = _phone_list(self.phones)
        if not phones:
            raise CcaiInputError("phones: no phone numbers given; nothing was sent")
        unique: list[str] = []
        for position, phone in enumerate(phones):
            if not isinstance(phone, str):
                raise CcaiInputError(
                    f"phones[{position}]: expected a string, got {type(phone).__name__}; nothing was sent"
                )
            phone = phone.strip()
            if not E164.fullmatch(phone):
                raise CcaiInputError(
                    f"phones[{position}]: not in E.164 format (+<country code><number>); nothing was sent"
                )
            if phone not in unique:
                unique.append(phone)
        return {
            "accounts": [{"firstName": FIRST_NAME, "lastName": LAST_NAME, "phone": phone} for phone in unique],
            "message": message,
            "title": title,
        }


def _phone_list(value: Any) -> list[Any]:
    """Return ``phones`` as a list: a list/tuple as is, a string split on separators or parsed as a list."""
    from airflow_provider_ccai.exceptions import CcaiInputError

    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            from airflow_provider_ccai.utils.validation import parse_list_literal

            return parse_list_literal(text, "phones")
        return [part for part in re.split(_SEPARATORS, text) if part]
    raise CcaiInputError(f"phones: expected a list of E.164 numbers or a string, got {type(value).__name__}")


#: Function-style alias, as Airflow's providers offer (``send_slack_notification`` and so on).
send_ccai_notification = CcaiNotifier
