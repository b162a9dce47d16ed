"""
At most one campaign per task instance, across the hook's and Airflow's retries (``docs/reliability.md``).

CCAI has no idempotency key, so a try that may follow one which sent finds that try's campaign instead of
sending again: by the record in the task state store (Airflow 3.3+), else by looking in the client's
campaign list for this title and message, created since the earlier try may have sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_ccai.exceptions import (
    CcaiAmbiguousMatchError,
    CcaiAmbiguousResultError,
    CcaiApiError,
    CcaiCampaignFillingError,
    CcaiEarlierTryUnknownError,
    CcaiInputError,
    CcaiUnlistedCampaignError,
)
from airflow_provider_ccai.version_compat import AirflowException

if TYPE_CHECKING:
    from airflow_provider_ccai.hooks.ccai import CloudContactHook
    from airflow_provider_ccai.utils.recipients import CampaignRequest
    from airflow_provider_ccai.version_compat import Context

#: task_state_store key (Airflow 3.3+) holding ``{"submitted_at": iso, "campaign_id": int}``.
STATE_KEY = "ccai_campaign"
#: allowance for CCAI's clock running behind the worker's when matching ``createdDate``.
CLOCK_SKEW = timedelta(minutes=1)
#: bounded look for a campaign whose create request had an unknown outcome.
LOOKUP_ATTEMPTS = 3
LOOKUP_INTERVAL = 2.0
#: most candidate campaigns whose recipient counts are compared when several match.
MAX_CANDIDATES = 10


class CampaignOnce:
    """
    Create one task instance's campaign at most once, or return the one an earlier try created.

    :param hook: the hook of the task's ``ccai`` connection.
    :param title: the rendered campaign title.
    :param message: the rendered message.
    :param context: the task context (``ti``, ``dag_run`` and, on Airflow 3.3+, ``task_state_store``).
    :param log: the operator's logger (``self.log``).
    """

    def __init__(self, hook: CloudContactHook, title: str, message: str, context: Context, log: Any) -> None:
        self.hook = hook
        self.title = title
        self.message = message
        self.context = context
        self.log = log
        self.store = context.get("task_state_store")
        self.state = self.store.get(STATE_KEY) if self.store is not None else None

    def recorded(self) -> dict[str, Any] | None:
        """Return the campaign an earlier try recorded in the task state store (Airflow 3.3+), if one did."""
        campaign_id = self.state.get("campaign_id") if isinstance(self.state, dict) else None
        if type(campaign_id) is not int:
            return None
        campaign = self._known_campaign(campaign_id)
        self._log_earlier(campaign)
        return campaign

    def create(self, request: CampaignRequest, before_sending: Callable[[], None] | None = None) -> dict[str, Any]:
        """
        Create the campaign unless an earlier try of this task instance may have; return it.

        Airflow 3.3+: before sending, the submission time is written to the task state store, and the
        campaign id after; a retry that finds only a submission time looks the campaign up. The first try's
        submission time is kept across tries, so a later try still looks back to it. Airflow 2.11-3.2: a
        retry looks for a campaign with this title and message created since the DAG run began
        (:func:`run_began`). A create whose outcome is unknown is resolved by looking
        (:meth:`_find_earlier`). A scheduled time already past fails the task here, after a retry has
        looked and before anything is sent; so does ``before_sending``, if it raises.

        :param request: the validated request body, its recipient count and scheduled time.
        :param before_sending: a last check that needs CCAI (e.g. that the picture is stored), called only when
            no earlier try's campaign was found and this try is about to send.
        """
        recipient_count = request.recipient_count
        first_submitted = submitted_at(self.state)
        window_start = self._earlier_try_window(first_submitted)
        if window_start is not None:
            found = self._look_for(window_start, recipient_count, while_missing=False)
            if found is not None:
                self._log_earlier(found)
                self._remember(first_submitted or datetime.now(timezone.utc), found)
                return found
        now = datetime.now(timezone.utc)
        if request.scheduled_at is not None and request.scheduled_at < now:
            raise CcaiInputError(f"scheduled_timestamp: {request.scheduled_at.isoformat()} is in the past")
        if before_sending is not None:
            before_sending()
        first_submitted = first_submitted or now
        if self.store is not None:
            self.store.set(STATE_KEY, {"submitted_at": first_submitted.isoformat()})
        try:
            campaign = self.hook.create_campaign(request.body)
        except CcaiAmbiguousResultError as error:
            self.log.warning("%s; looking for the campaign instead of sending again", error)
            # from this try's submission, or from an earlier try's window, which starts before it
            since = now - CLOCK_SKEW if window_start is None else window_start
            found = self._look_for(since, recipient_count)
            if found is None and error.status is not None and 200 <= error.status < 300:
                raise CcaiUnlistedCampaignError(
                    f"{error}. CCAI accepted the campaign, but no campaign titled {self.title!r} is listed yet; "
                    "not retried, as a retry would send it again. Find it in CCAI's campaign list."
                ) from None
            if found is None:
                raise AirflowException(
                    f"{error}. No campaign titled {self.title!r} appeared, so it was probably not created; "
                    "a retry of this task looks again before sending."
                ) from None
            self.log.info("Found campaign %s created by the request whose response was lost", found.get("id"))
            campaign = found
        self._remember(first_submitted, campaign)
        return campaign

    def _earlier_try_window(self, first_submitted: datetime | None) -> datetime | None:
        """
        Return since when an earlier try may have created the campaign, or ``None`` if none could have.

        A retry that cannot tell fails rather than risk sending twice (:class:`CcaiEarlierTryUnknownError`).

        :param first_submitted: the first sending try's submission time from the task state store, if any.
        """
        if first_submitted is not None:
            return first_submitted - CLOCK_SKEW
        if getattr(self.context["ti"], "try_number", 1) <= 1:
            return None
        # A retry with no recorded submission looks too, even on Airflow 3.3+: the store may have been
        # emptied (``[state_store] clear_on_success``, a clear that leaves ``clear_number`` alone), written
        # through a backend this worker cannot read, or not there when an earlier try ran on an older worker.
        began = run_began(self.context.get("dag_run"))
        if began is None or began > datetime.now(timezone.utc) + CLOCK_SKEW:
            # a run "begun" in the future (tested for a future logical date on 2.11) says nothing either
            raise CcaiEarlierTryUnknownError(
                "This is a retry, and neither the task state store nor the DAG run's dates say when an "
                "earlier try may have sent, so its campaign cannot be looked up; not sending again. Check the "
                f"CCAI campaign list for {self.title!r} before running the task anew."
            )
        return began - CLOCK_SKEW

    def _log_earlier(self, campaign: dict[str, Any]) -> None:
        self.log.info(
            "An earlier try created campaign %s (status %s); not sending again",
            campaign.get("id"),
            campaign.get("status", "unknown"),
        )

    def _look_for(self, since: datetime, recipient_count: int, *, while_missing: bool = True) -> dict[str, Any] | None:
        """
        Look for the campaign created since ``since`` (:meth:`_find_earlier`), a few times.

        A look that cannot decide (a new campaign's stats may still be filling in) is repeated; so is one
        that finds nothing, unless ``while_missing`` is false (a retry, whose earlier try most often failed
        before sending). Once a look has seen a candidate it could not decide on, finding nothing later does not
        mean "never created": unless a later look finds the campaign, the undecided look's error is raised.

        :param since: the earliest creation time to consider.
        :param recipient_count: the number of recipients the campaign must have.
        :param while_missing: whether to look again when no campaign matches.
        """
        from airflow_provider_ccai.utils.polling import first_found

        # why the latest look that saw a candidate could not decide on it, if one could not
        undecided: list[CcaiAmbiguousMatchError | CcaiCampaignFillingError] = []

        def look() -> tuple[dict[str, Any] | None] | None:
            try:
                found = self._find_earlier(since, recipient_count)
            except (CcaiAmbiguousMatchError, CcaiCampaignFillingError) as error:
                undecided[:] = [error]
                return None
            if found is not None:
                return (found,)
            # a candidate an earlier look saw may be missing from a lagging copy of the list: that proves nothing
            return None if while_missing or undecided else (None,)

        decided = first_found(look, LOOKUP_ATTEMPTS, LOOKUP_INTERVAL)
        if decided and decided[0] is not None:
            return decided[0]
        if undecided:  # a look saw a candidate and none decided on it
            raise undecided[0]
        return None

    def _find_earlier(self, since: datetime, recipient_count: int) -> dict[str, Any] | None:
        """
        Return the campaign with this title and message created since ``since``, or ``None`` if there is none.

        The match must also have ``recipient_count`` messages, which tells apart campaigns that other tasks
        sent with the same text. If none has that count but one with fewer may still be getting its messages
        (it counts none yet, or some pending or sending), the task fails and a retry looks again. If several
        have that count, or none has it and none may still be filling, or a match has no readable creation
        time (it may be this run's or a much older one), the task fails without retries and sends nothing:
        sending again might text everyone twice, and adopting another task's campaign would skip this one's.

        :param since: the earliest creation time to consider.
        :param recipient_count: the number of recipients the campaign must have.
        """
        hook = self.hook
        candidates = hook.find_campaigns(title=self.title, message=self.message, created_after=since)
        undated = [c for c in candidates if hook.created_at(c) is None]
        if undated:
            ids = ", ".join(str(c.get("id")) for c in undated)
            raise CcaiAmbiguousMatchError(
                f"CCAI lists campaign(s) {ids} titled {self.title!r} with this message but without a readable "
                "creation time, so this task cannot tell whether an earlier try created one of them. Nothing was "
                "sent again. Check these campaigns in CCAI; a title unique to the run (e.g. with {{ run_id }}) "
                "avoids this."
            )
        if not candidates:
            return None
        if len(candidates) <= MAX_CANDIDATES:
            counts = [(c, hook.get_campaign_stats(int(c["id"]))) for c in candidates]
            same_size = [c for c, stats in counts if stats["totalCount"] == recipient_count]
            if len(same_size) == 1:
                return same_size[0]
            filling = [
                f"{c.get('id')} ({stats['totalCount']})"
                for c, stats in counts
                if _may_be_filling(stats, recipient_count)
            ]
            if not same_size and filling:
                raise CcaiCampaignFillingError(
                    f"CCAI counts fewer than this task's {recipient_count} recipients in campaign(s) "
                    f"{', '.join(filling)} titled {self.title!r} with this message, created since "
                    f"{since.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC; CCAI may still be adding them. "
                    "Nothing was sent again; a retry of this task looks again."
                )
            finding = f"{len(same_size)} of them have {recipient_count} recipients"
        else:
            finding = f"more than {MAX_CANDIDATES} are too many to compare"
        ids = ", ".join(str(c.get("id")) for c in candidates)
        raise CcaiAmbiguousMatchError(
            f"{len(candidates)} campaign(s) titled {self.title!r} with this message were created since "
            f"{since.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC (ids {ids}) and {finding}, "
            "so this task cannot tell which, if any, an earlier try created. "
            "Nothing was sent again. Check these campaigns in CCAI; give each mapped or parallel campaign task "
            "its own title (e.g. with {{ run_id }} and {{ ti.map_index }})."
        )

    def _known_campaign(self, campaign_id: int) -> dict[str, Any]:
        """Return the recorded campaign as CCAI lists it, or just its id when the list cannot say."""
        try:
            listed = next((c for c in self.hook.list_campaigns() if c.get("id") == campaign_id), None)
        except CcaiApiError as error:  # the id is the result; the listing only adds detail
            self.log.warning("Could not read campaign %s from the campaign list (%s)", campaign_id, error)
            listed = None
        return listed if listed is not None else {"id": campaign_id}

    def _remember(self, first_submitted: datetime, campaign: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.set(STATE_KEY, {"submitted_at": first_submitted.isoformat(), "campaign_id": int(campaign["id"])})


def _may_be_filling(stats: dict[str, int], recipient_count: int) -> bool:
    """
    Whether a campaign counting fewer messages than ``recipient_count`` may still be getting them: it counts
    none yet, or some of its messages are still pending or sending. A finished smaller one is another's.
    """
    if stats["totalCount"] >= recipient_count:
        return False
    return stats["totalCount"] == 0 or stats["pendingCount"] + stats["sendingCount"] > 0


def submitted_at(state: Any) -> datetime | None:
    """
    Return when the first try that sent wrote its submission time to the task state store, if one did.

    :param state: the task state store's value under :data:`STATE_KEY`, or ``None``.
    """
    if isinstance(state, dict) and state.get("submitted_at"):
        return datetime.fromisoformat(state["submitted_at"])
    return None


def run_began(dag_run: Any) -> datetime | None:
    """
    Return since when the DAG run's tries may have sent: its ``start_date``, or, where that may lie after an
    earlier try's campaign, the earlier of it and the time the run became due.

    ``start_date`` moves past an earlier try's campaign when a finished run is cleared (``clear_number > 0``),
    and lies ahead when a run is tested for a future logical date. The time the run became due does not move:
    ``run_after`` on Airflow 3; on 2.11 the later of ``logical_date`` and ``data_interval_end`` (a scheduled
    run is due when its interval ends, a manual one when triggered). It is not taken otherwise: a catch-up,
    backfill or queued run became due long before it started, and a window reaching back that far would take
    an earlier run's campaign with the same title for this one's. Naive dates are read as UTC.

    :param dag_run: the task's DAG run, or ``None``.
    """
    start = _aware(getattr(dag_run, "start_date", None))
    moved = was_cleared(dag_run) or start is None or start > datetime.now(timezone.utc) + CLOCK_SKEW
    if not moved:
        return start
    due = _aware(getattr(dag_run, "run_after", None))
    if due is None:
        moments = [_aware(getattr(dag_run, name, None)) for name in ("logical_date", "data_interval_end")]
        due = max((moment for moment in moments if moment is not None), default=None)
    known = [moment for moment in (start, due) if moment is not None]
    return min(known) if known else None


def was_cleared(dag_run: Any) -> bool:
    """
    Return whether the DAG run, or a task in it, has been cleared (``clear_number > 0``).

    :param dag_run: the task's DAG run, or ``None``.
    """
    clear_number = getattr(dag_run, "clear_number", 0)
    return isinstance(clear_number, int) and clear_number > 0


def _aware(moment: Any) -> datetime | None:
    """Return ``moment`` if it is a datetime, read as UTC when naive; else ``None``."""
    if not isinstance(moment, datetime):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
