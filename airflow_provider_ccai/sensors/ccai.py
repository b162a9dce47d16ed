"""Sensor that waits until a CloudContactAI campaign has finished sending and checks how many messages failed."""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

# The provider's exceptions are imported where raised: that module adds 0.15-0.3 ms to every DAG-file parse.
from airflow_provider_ccai.utils.hook_mixin import CcaiHookMixin
from airflow_provider_ccai.version_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

if TYPE_CHECKING:
    from decimal import Decimal

    from airflow.sdk import XComArg

    from airflow_provider_ccai.version_compat import Context

#: Extra time the scheduler allows a deferred sensor beyond ``timeout``; the trigger's own deadline
#: normally ends the wait first, with a clearer message.
DEFERRAL_GRACE = timedelta(seconds=60)
#: The error Airflow 2.11's scheduler resumes a deferred task with when the deferral timed out (``__fail__``).
_DEFERRAL_TIMED_OUT = "Trigger/execution timeout"


class CcaiCampaignSensor(CcaiHookMixin, BaseSensorOperator):
    """
    Wait until every message of a campaign is sent or failed; fail if too many of them ended in error.

    The campaign's stats (``GET /api/v2/messages/campaign/{id}/stats``) are polled every ``poke_interval``
    seconds. Once the campaign has messages, none pending or sending and all of them sent or failed, the
    sensor succeeds and pushes
    the final stats (``errorCount``, ``pendingCount``, ``sendingCount``, ``sentCount``, ``totalCount``) to XCom
    (``return_value``) — unless the share of failed messages is above ``max_error_ratio``, in which case
    the task fails without retries (the messages are already sent; retrying cannot change that).
    Counts that are all 0 (not filled in yet) are not finished. A scheduled campaign is not sent before
    its time, so give the sensor a ``timeout`` that covers the wait.

    The default ``max_error_ratio`` of ``0.1`` tolerates the few numbers of a large list that are
    landlines, disconnected or opted out, but fails when more than a tenth of a campaign fails, which points at
    a systemic problem (sender number, account or content blocked). Use ``0.0`` to fail on any failed
    message, ``1.0`` never to fail on errors.

    With ``deferrable=True`` the wait happens in the triggerer (:class:`CcaiCampaignTrigger`) and frees
    the worker slot.

    :param campaign_id: id of the campaign, e.g. ``create.output`` of a
        :class:`~airflow_provider_ccai.operators.ccai.CcaiCreateCampaignOperator`. (templated)
    :param max_error_ratio: largest acceptable ``errorCount / totalCount``, between 0 and 1; default 0.1.
    :param ccai_conn_id: the ``ccai`` connection.
    :param hook_params: keyword arguments for :class:`CloudContactHook` that override the connection's
        extras, e.g. ``{"timeout": 60, "connect_timeout": 5, "max_attempts": 3}``; passed to the trigger
        when deferrable.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable`` (``False``).
    """

    template_fields: Sequence[str] = ("campaign_id",)
    template_ext: Sequence[str] = ()
    ui_color = "#fdebd0"

    def __init__(
        self,
        *,
        campaign_id: int | float | Decimal | str | XComArg,
        max_error_ratio: float = 0.1,
        ccai_conn_id: str = "ccai_default",
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(max_error_ratio, bool)
            or not isinstance(max_error_ratio, numbers.Real)
            or not 0 <= max_error_ratio <= 1
        ):
            from airflow_provider_ccai.exceptions import CcaiInputError

            raise CcaiInputError(f"max_error_ratio: expected a number between 0 and 1, got {max_error_ratio!r}")
        self.campaign_id: Any = campaign_id
        self.max_error_ratio: float = float(max_error_ratio)
        self.ccai_conn_id: str = ccai_conn_id
        self.hook_params: dict[str, Any] = hook_params or {}
        self.deferrable: bool = deferrable

    def execute(self, context: Context) -> Any:
        """
        Poke (or reschedule) as usual, or check ``campaign_id`` and defer to the triggerer.

        A bad ``campaign_id`` or ``hook_params`` fails without retries in both modes, and is skipped under
        ``soft_fail`` or ``never_fail`` as Airflow's poke loop skips a failure of :meth:`poke`.

        :param context: the task context.
        """
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_ccai.exceptions import CcaiInputError
        from airflow_provider_ccai.utils.validation import checked_hook_params

        try:
            campaign_id = self._campaign_id()
            checked_hook_params(self.hook_params)  # poke() checks them too, so both modes fail (or skip) alike
        except CcaiInputError as error:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(str(error)) from None
            raise
        # Imported here: airflow.triggers.base costs about 6 ms on Airflow 3, paid by every DAG-file parse otherwise.
        from airflow_provider_ccai.triggers.ccai import CcaiCampaignTrigger

        self.defer(
            trigger=CcaiCampaignTrigger(
                campaign_id=campaign_id,
                ccai_conn_id=self.ccai_conn_id,
                poke_interval=self.poke_interval,
                hook_params=self.hook_params,
                deadline=time.time() + self.timeout,
                silent_fail=getattr(self, "silent_fail", False),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """
        Return the final stats once every message of the campaign is sent or failed, else ``False``.

        :param context: the task context.
        """
        from airflow_provider_ccai.triggers.ccai import campaign_finished, describe_stats

        campaign_id = self._campaign_id()
        earlier = vars(self).pop("hook", None)  # a new hook per poke: a wait of days sees a rotated API key
        if earlier is not None:
            earlier.close()  # its pooled connection would stay open until garbage collection
        stats = self.hook.get_campaign_stats(campaign_id)
        self.log.info("%s", describe_stats(campaign_id, stats))
        if not campaign_finished(stats):
            return False
        self._check_errors(campaign_id, stats)
        return PokeReturnValue(is_done=True, xcom_value=stats)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """
        Resume after deferring; under ``never_fail`` skip any failure but a timeout, as poke mode does.

        Airflow 2.11 applies only ``soft_fail`` here, so under ``never_fail`` it would fail what poke mode
        skips; Airflow 3.3 applies ``never_fail`` to timeouts too, which poke mode fails. The sensor keeps
        poke mode's rule on both.

        :param next_method: the method to resume in, or ``__fail__`` when the trigger failed.
        :param next_kwargs: its keyword arguments (the trigger's event).
        :param context: the task context.
        """
        never_fail = getattr(self, "never_fail", False)
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skipped:
            if never_fail and isinstance(skipped.__cause__, AirflowSensorTimeout):
                raise skipped.__cause__ from None  # Airflow 3.3 skipped a timeout
            raise
        except AirflowSensorTimeout:
            raise
        except Exception as error:
            timed_out = next_method == "__fail__" and (next_kwargs or {}).get("error") == _DEFERRAL_TIMED_OUT
            if never_fail and not timed_out:
                raise AirflowSkipException(f"Skipping due to never_fail: {error}") from error
            raise

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, int]:
        """
        Resume after the trigger fired: return the final stats, or raise what the event reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        from airflow_provider_ccai.exceptions import CcaiCampaignWaitError
        from airflow_provider_ccai.hooks.ccai import valid_stats
        from airflow_provider_ccai.triggers.ccai import describe_stats

        if not isinstance(event, Mapping):
            raise AirflowException(f"CCAI campaign sensor resumed without a trigger event (got {event!r})")
        campaign_id: Any = event.get("campaign_id", self.campaign_id)
        if event.get("status") == "success":
            stats = valid_stats(event.get("stats"))
            if stats is None:
                raise AirflowException(f"CCAI campaign {campaign_id}: trigger event has no valid stats")
            self.log.info("%s", describe_stats(campaign_id, stats))
            self._check_errors(campaign_id, stats)
            return stats
        message = str(event.get("message") or f"CCAI campaign {campaign_id}: the trigger failed")
        reason = event.get("reason")
        if reason == "timeout":
            raise AirflowSensorTimeout(message)
        if reason == "rejected":
            raise AirflowFailException(message)
        raise CcaiCampaignWaitError(message)  # a failure a retry may fix: fail this try, as poke mode does

    def _campaign_id(self) -> int:
        """Return the rendered ``campaign_id`` as a positive int, or raise naming the field."""
        value = self.campaign_id
        campaign_id: int | None = None
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            campaign_id = int(value)
        elif isinstance(value, (float, Decimal)):
            campaign_id = _whole_number(value)  # e.g. from an SQL NUMERIC column (Decimal) or pandas (float)
        elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit():
            campaign_id = int(text)  # isdigit() alone would also pass "²" and "١٢"
        if campaign_id is None or campaign_id <= 0:
            from airflow_provider_ccai.exceptions import CcaiInputError

            shown = repr(value) if isinstance(value, (str, numbers.Number)) else type(value).__name__
            if len(shown) > 60:
                shown = shown[:60] + "..."
            raise CcaiInputError(f"campaign_id: expected a positive integer campaign id, got {shown}")
        return campaign_id

    def _check_errors(self, campaign_id: object, stats: Mapping[str, int]) -> None:
        """Fail without retries when the share of failed messages is above ``max_error_ratio``."""
        errors = stats["errorCount"]
        # of the messages done (at least totalCount once finished): counts that overshoot the total cap it at 1
        total = max(stats["totalCount"], stats["sentCount"] + errors)
        ratio = errors / total if total else 0.0  # above 0 once finished; kept safe for any event
        if ratio > self.max_error_ratio:
            raise AirflowFailException(
                f"CCAI campaign {campaign_id}: {errors} of {total} messages failed ({ratio:.1%}), "
                f"more than max_error_ratio={self.max_error_ratio:g} allows; sent: {stats['sentCount']}"
            )


def _whole_number(value: float | Decimal) -> int | None:
    """Return ``value`` as an int if it is a finite whole number (``12.0``, ``Decimal("12")``), else ``None``."""
    try:
        whole = int(value)
    except (ValueError, OverflowError):  # NaN, infinity
        return None
    return whole if whole == value else None
