"""
Names that live in different places on Airflow 2.11 and Airflow 3 (Task SDK).

Each name is resolved on first use, from the Airflow 3 location when it exists, else the 2.11 one, so
importing the hook does not drag in operator machinery (which on 2.11 would import in a cycle while the
providers manager loads hooks). Modelled on ``airflow.providers.common.compat.sdk``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_V_3_0_PLUS = int(AIRFLOW_VERSION.split(".")[0]) >= 3

#: name -> (Airflow 3 module, Airflow 2.11 module)
_LOCATIONS: dict[str, tuple[str, str]] = {
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowNotFoundException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseNotifier": ("airflow.sdk", "airflow.notifications.basenotifier"),
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    "mask_secret": ("airflow.sdk.log", "airflow.utils.log.secrets_masker"),
}

if TYPE_CHECKING:  # what mypy sees; at run time __getattr__ resolves each name per Airflow version
    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator, BaseSensorOperator  # noqa: F401
    from airflow.sdk.exceptions import (  # noqa: F401
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )
    from airflow.sdk.log import mask_secret  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LOCATIONS[name][0 if AIRFLOW_V_3_0_PLUS else 1]
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = ["AIRFLOW_V_3_0_PLUS", *_LOCATIONS]
