"""The ``hook`` attribute the operators, the sensor and the notifier share (cheap to import: DAG files do)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_ccai.hooks.ccai import CloudContactHook


class CcaiHookMixin:
    """Give a task or notifier that has ``ccai_conn_id`` and ``hook_params`` its :class:`CloudContactHook`."""

    ccai_conn_id: str
    hook_params: dict[str, Any]

    @cached_property
    def hook(self) -> CloudContactHook:
        """
        The hook of ``ccai_conn_id`` with ``hook_params``, made on first use (never at DAG-parse time) and kept
        for the task try, so its ``requests.Session`` serves every call of the try; the sensor makes a new one
        at each poke.
        Bad ``hook_params`` raise :class:`~airflow_provider_ccai.exceptions.CcaiInputError` here.
        """
        from airflow_provider_ccai.hooks.ccai import CloudContactHook
        from airflow_provider_ccai.utils.validation import checked_hook_params

        return CloudContactHook(self.ccai_conn_id, **checked_hook_params(self.hook_params))
