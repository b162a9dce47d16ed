"""The provider's manifest: the single list of what ``airflow-provider-ccai`` offers Airflow."""

from __future__ import annotations

from typing import Any

from airflow_provider_ccai import __version__

INTEGRATION = "CloudContactAI"

#: Extra fields of the ``ccai`` connection (Airflow 3.2+ reads these without importing the hook).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "files_url": {
        "label": "Files API base URL",
        "description": "Signed-upload-URL service. Empty means https://files.cloudcontactai.com",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "Seconds to wait for a response. Empty means 30.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 600},
    },
    "connect_timeout": {
        "label": "Connect timeout (seconds)",
        "description": "Seconds to wait for a TCP connection. Empty means 10.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 120},
    },
    "max_attempts": {
        "label": "Attempts per retryable call",
        "description": "Attempts per call, the first included. Creating a campaign is repeated only when CCAI surely "
        "did not get it (no connection). Empty means 5.",
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 20},
    },
}

#: How the standard connection fields are shown.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "Client ID", "password": "API Key", "host": "API base URL"},
    "placeholders": {
        "login": "1234",
        "password": "API key from CCAI Settings > Security",
        "host": "https://core.cloudcontactai.com/api",
        "files_url": "https://files.cloudcontactai.com",
        "timeout": "30",
        "connect_timeout": "10",
        "max_attempts": "5",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow validates against ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-ccai",
        "name": "CloudContactAI",
        "description": "`CloudContactAI <https://www.cloudcontactai.com/>`__ SMS/MMS campaigns from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://developer.cloudcontactai.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_ccai.hooks.ccai"]}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_ccai.operators.ccai"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_ccai.sensors.ccai"]}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_ccai.triggers.ccai"]}],
        "notifications": ["airflow_provider_ccai.notifications.ccai.CcaiNotifier"],
        "connection-types": [
            {
                "connection-type": "ccai",
                "hook-class-name": "airflow_provider_ccai.hooks.ccai.CloudContactHook",
                "hook-name": "CloudContactAI",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
