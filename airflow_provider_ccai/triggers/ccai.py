"""Trigger that waits, in the triggerer, until a CloudContactAI campaign has finished sending."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_ccai.utils.validation import checked_hook_params

#: Upper bound on a trigger's wait when no deadline is given (Airflow's default sensor timeout, 7 days).
DEFAULT_TRIGGER_TIMEOUT = 7 * 24 * 60 * 60.0
#: Seconds a poll (with the hook's retries) may run past the deadline before the trigger reports the timeout
#: itself; less than the sensor's deferral grace, so Airflow's deferral timeout never fires first.
POLL_MARGIN = 30.0
#: Least seconds between a failed poll and the next under ``silent_fail``, whatever ``poke_interval`` says.
FAILED_POLL_PAUSE = 1.0


def campaign_finished(stats: Mapping[str, int]) -> bool:
    """
    Return whether a campaign has messages, none of them pending or sending, and all of them sent or failed.

    A campaign that shows no messages yet is not finished: CCAI does not document when the counts of a
    new or scheduled campaign fill in, and all zeros must not pass for "delivered". Nor is one whose sent and
    failed messages add up to less than its total: the others are in a state CCAI does not document (held
    for approval, say), not delivered.

    :param stats: ``{errorCount, pendingCount, sendingCount, sentCount, totalCount}`` from CCAI.
    """
    total = stats["totalCount"]
    return (
        total > 0
        and stats["pendingCount"] == 0
        and stats["sendingCount"] == 0
        and stats["sentCount"] + stats["errorCount"] >= total
    )


def describe_stats(campaign_id: object, stats: Mapping[str, int]) -> str:
    """
    Return a one-line summary of a campaign's counts (counts only, never recipients).

    :param campaign_id: the campaign's id.
    :param stats: the campaign's stats.
    """
    done = stats["sentCount"] + stats["errorCount"]
    return (
        f"CCAI campaign {campaign_id}: {done} of {stats['totalCount']} messages done "
        f"({stats['sentCount']} sent, {stats['errorCount']} failed), "
        f"{stats['pendingCount']} pending, {stats['sendingCount']} sending"
    )


class CcaiCampaignTrigger(BaseTrigger):
    """
    Poll a campaign's stats until it has messages and none is pending or sending, or until a deadline passes.

    Fires exactly one event and stops:

    * ``{"status": "success", "campaign_id": id, "stats": {...}}`` when the campaign has finished;
    * ``{"status": "error", "reason": "timeout", "campaign_id": id, "message": ..., "stats": {...}}`` when
      ``deadline`` passes first;
    * ``{"status": "error", "reason": "rejected" | "failed", "campaign_id": id, "message": ...}`` when CCAI
      refuses the call (e.g. a bad API key or an unknown campaign) or it keeps failing after the hook's
      retries (with ``silent_fail``, such a failure is logged and the wait goes on until ``deadline``, as
      a sensor's ``silent_fail`` does in poke mode). Messages never contain the API key.

    Its keyword arguments are persisted by Airflow, so they are primitives and carry no secret: the
    connection is looked up (asynchronously) in the triggerer.

    :param campaign_id: id of the campaign to watch.
    :param ccai_conn_id: the ``ccai`` connection.
    :param poke_interval: seconds between two stats requests.
    :param deadline: Unix time (seconds) after which the trigger gives up with a ``timeout`` event;
        default 7 days from creation (kept when the trigger is serialised).
    :param hook_params: keyword arguments for :class:`CloudContactHook` that override the connection's
        extras, e.g. ``{"timeout": 60, "connect_timeout": 5, "max_attempts": 3}``. Hook argument names
        to numbers only (``CcaiInputError``, a ``ValueError``, otherwise), as they are serialised.
    :param silent_fail: log a failed stats call that a retry may fix and keep waiting, instead of ending
        with a ``failed`` event.
    """

    def __init__(
        self,
        campaign_id: int,
        ccai_conn_id: str = "ccai_default",
        poke_interval: float = 60.0,
        deadline: float | None = None,
        hook_params: dict[str, Any] | None = None,
        silent_fail: bool = False,
    ) -> None:
        super().__init__()
        self.campaign_id = int(campaign_id)
        self.ccai_conn_id = ccai_conn_id
        self.poke_interval = float(poke_interval)
        self.deadline = float(deadline) if deadline is not None else time.time() + DEFAULT_TRIGGER_TIMEOUT
        self.hook_params: dict[str, Any] = checked_hook_params(hook_params)
        self.silent_fail = bool(silent_fail)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the primitive keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "campaign_id": self.campaign_id,
                "ccai_conn_id": self.ccai_conn_id,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "hook_params": dict(self.hook_params),
                "silent_fail": self.silent_fail,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the campaign's stats every ``poke_interval`` seconds; yield one event, then return."""
        from airflow_provider_ccai.exceptions import (
            CcaiApiError,
            CcaiConnectionError,
            CcaiConnectionNotFoundError,
            CcaiRejectedError,
        )
        from airflow_provider_ccai.hooks.ccai import CloudContactHook
        from airflow_provider_ccai.utils.redact import redact

        while True:
            poll_limit = max(self.deadline - time.time(), 0.0) + POLL_MARGIN
            # a new hook per poll reads the connection again, as a poke does: a wait of days sees a rotated key
            hook = CloudContactHook(self.ccai_conn_id, **self.hook_params)
            poll = asyncio.ensure_future(hook.aget_campaign_stats(self.campaign_id))
            try:
                # not wait_for: a TimeoutError the call itself raises (a lookup timing out) is a failed poll
                done, _ = await asyncio.wait({poll}, timeout=poll_limit)
            except asyncio.CancelledError:  # the triggerer stops this trigger
                poll.cancel()
                raise
            if not done:
                poll.cancel()
                await asyncio.wait({poll})  # let the call close its connection
                message = f"CCAI campaign {self.campaign_id}: no stats before the sensor's timeout ran out"
                yield self._error("timeout", message)
                return
            try:
                stats = poll.result()
            except (CcaiRejectedError, CcaiConnectionError) as error:
                yield self._error("rejected", str(error))
                return
            except (CcaiApiError, CcaiConnectionNotFoundError) as error:  # may pass: poll again or fail the try
                failure: str | None = str(error)
            except Exception as error:  # anything else must still end the wait with a clean event
                failure = f"{type(error).__name__}: {redact(str(error))}"
            else:
                failure = None
                if campaign_finished(stats):
                    self.log.info("%s; finished", describe_stats(self.campaign_id, stats))
                    yield TriggerEvent({"status": "success", "campaign_id": self.campaign_id, "stats": stats})
                    return
            if failure is not None and not self.silent_fail:
                yield self._error("failed", failure)
                return
            remaining = self.deadline - time.time()
            if remaining <= 0:
                if failure is not None:
                    yield self._error("timeout", f"{failure}; the sensor's timeout ran out")
                else:
                    summary = describe_stats(self.campaign_id, stats)
                    yield self._error("timeout", f"{summary} when the sensor's timeout ran out", stats)
                return
            # after a failure, at least FAILED_POLL_PAUSE: poke_interval=0 must not turn an outage into a busy loop
            wait = min(max(self.poke_interval, FAILED_POLL_PAUSE if failure is not None else 0.0), remaining)
            if failure is not None:
                self.log.error("%s; silent_fail: checking again in %g s", failure, round(wait, 1))
            else:
                self.log.info("%s; checking again in %g s", describe_stats(self.campaign_id, stats), round(wait, 1))
            await asyncio.sleep(wait)

    def _error(self, reason: str, message: str, stats: Mapping[str, int] | None = None) -> TriggerEvent:
        event = {"status": "error", "reason": reason, "campaign_id": self.campaign_id, "message": message}
        return TriggerEvent({**event, "stats": stats} if stats is not None else event)
