"""
Names that live in different places on Airflow 2.11 and Airflow 3 (Task SDK).

Each name is resolved on first use, from the Airflow 3 location when it exists, else the 2.11 one, so
importing the hook does not drag in operator machinery (which on 2.11 would import in a cycle while the
providers manager loads hooks). Modelled on ``airflow.providers.common.compat.sdk``, but not imported from
it: that module costs about 4.5 ms more per DAG-file parse on Airflow 2.11 (against 0.6 ms for this one),
and at the common-compat floor (1.10.1) it lacks ``conf`` and ``mask_secret``.
"""

from __future__ import annotations

from contextlib import suppress
from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_V_3_0_PLUS = int(AIRFLOW_VERSION.split(".")[0]) >= 3
_MISSING = object()

#: name -> (Airflow 3 module, Airflow 2.11 module); on Airflow 3.0/3.1 some names exist only in the second
_LOCATIONS: dict[str, tuple[str, str]] = {
    "AirflowException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowNotFoundException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseNotifier": ("airflow.sdk", "airflow.notifications.basenotifier"),
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "BaseSensorOperator": ("airflow.sdk", "airflow.sensors.base"),
    "Context": ("airflow.sdk", "airflow.utils.context"),
    "PokeReturnValue": ("airflow.sdk", "airflow.sensors.base"),
    "conf": ("airflow.sdk.configuration", "airflow.configuration"),
    "mask_secret": ("airflow.sdk.log", "airflow.utils.log.secrets_masker"),
}

#: What the provider takes from here, written out for linters and type checkers (these names are re-exported);
#: tests/unit/test_packaging.py keeps it equal to ``_LOCATIONS``.
__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "Context",
    "PokeReturnValue",
    "conf",
    "mask_secret",
]

if TYPE_CHECKING:  # what mypy sees; at run time __getattr__ resolves each name per Airflow version
    from airflow.sdk import (
        BaseHook,
        BaseNotifier,
        BaseOperator,
        BaseSensorOperator,
        Context,
        PokeReturnValue,
    )
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
    from airflow.sdk.log import mask_secret


def __getattr__(name: str) -> Any:
    if name not in _LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    airflow_3_module, airflow_2_module = _LOCATIONS[name]
    value = _MISSING
    if AIRFLOW_V_3_0_PLUS:
        with suppress(ImportError, AttributeError):
            value = getattr(import_module(airflow_3_module), name)
    if value is _MISSING:  # Airflow 2.11, or a name that Airflow 3.0/3.1 keep in the older module
        value = getattr(import_module(airflow_2_module), name)
    globals()[name] = value
    return value
