"""Exceptions raised by the CCAI provider; messages never carry secrets or recipients."""

from __future__ import annotations

from airflow_provider_ccai.version_compat import AirflowException, AirflowFailException


class CcaiInputError(AirflowFailException, ValueError):
    """Bad input found before any request was sent; a retry cannot fix it, so the task fails at once."""


class CcaiSourceChangedError(AirflowException):
    """A file changed while it was read (a writer replaced it); nothing was sent, and a retry reads it again."""


class CcaiConnectionError(AirflowFailException):
    """The ``ccai`` connection lacks a field the hook needs, or holds one it cannot use."""


class CcaiConnectionNotFoundError(AirflowException):
    """
    Airflow found no ``ccai`` connection under this id. Retried: Airflow reports a secrets backend it could not
    reach (Vault down, a database blip) the same way, and that passes.
    """


class CcaiApiError(AirflowException):
    """
    A CCAI call failed.

    :param call: what was called, e.g. ``POST /clients/{id}/campaigns/direct`` (no query string).
    :param status: HTTP status, or ``None`` when no response arrived.
    :param detail: short, already redacted description or body excerpt.
    """

    def __init__(self, call: str, status: int | None, detail: str) -> None:
        self.call = call
        self.status = status
        self.detail = detail
        got = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"CCAI {call} failed: {got}: {detail}")

    def __reduce__(self) -> tuple[type, tuple[object, ...], dict[str, object]]:
        """Rebuild from the constructor's arguments, so that the error survives ``pickle`` and ``copy``."""
        return type(self), (self.call, self.status, self.detail), self.__dict__


class CcaiRejectedError(CcaiApiError, AirflowFailException):
    """
    Repeating the request cannot succeed: CCAI refused it (400, 401, 403, 404, 422 and other 4xx but 408 and 429),
    redirected it (3xx), answered a safe call with 501 or 505, sent a campaign list
    that cannot be read whole, or the request could not be built.
    """


class CcaiTransientError(CcaiApiError):
    """
    A failure that may pass (connection error, 408, 429, a 5xx but 501 and 505): the hook retries safe calls;
    Airflow's retries apply too.

    :param call: what was called (no query string).
    :param status: HTTP status, or ``None`` when no response arrived.
    :param detail: short, already redacted description or body excerpt.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, call: str, status: int | None, detail: str, retry_after: float | None = None) -> None:
        super().__init__(call, status, detail)
        self.retry_after = retry_after


class CcaiCampaignWaitError(RuntimeError):
    """
    A deferred campaign wait ended on a failure that a retry may fix (CCAI unreachable, 5xx, 429).

    Not an ``AirflowException`` on purpose: Airflow turns any ``AirflowException`` raised on resuming a
    deferred sensor into a skip under ``soft_fail``, while in poke mode such a failure fails the try and
    is retried. Raising this keeps the two modes alike.
    """


class CcaiAmbiguousResultError(CcaiApiError):
    """A create request may have reached the server but its outcome is unknown; resolve it by looking."""


class CcaiUnlistedCampaignError(AirflowFailException):
    """
    CCAI accepted a create (2xx) but its response has no campaign id and the campaign list does not show it yet;
    a retry would send it again, so the task fails without one.
    """


class CcaiAmbiguousMatchError(AirflowFailException):
    """Several campaigns could be the one an earlier try created; nothing is sent and a retry cannot decide."""


class CcaiEarlierTryUnknownError(AirflowFailException):
    """
    A retry cannot tell since when an earlier try may have sent (no record of it, and the DAG run has no dates or
    only dates in the future), so it cannot look for that try's campaign; nothing is sent and a retry cannot
    decide either.
    """


class CcaiCampaignFillingError(AirflowException):
    """
    A campaign that may be this task's counts fewer recipients than it sent, as CCAI may while still adding
    them; nothing is sent, and a retry looks again.
    """
