"""The provider manifest: valid for Airflow's own schema, complete, and in sync with the hook's form."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema

from airflow_provider_ccai.get_provider_info import CONN_FIELDS, get_provider_info
from airflow_provider_ccai.hooks.ccai import CloudContactHook


def _schema(name: str) -> dict:
    import airflow

    return json.loads((Path(airflow.__file__).parent / name).read_text())


def test_provider_info_passes_airflows_schema():
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_ui_field_behaviour_passes_airflows_schema():
    jsonschema.validate(
        CloudContactHook.get_ui_field_behaviour(), _schema("customized_form_field_behaviours.schema.json")
    )


def test_entry_point_returns_the_provider_info():
    [entry] = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_ccai")
    ]
    assert entry.load()() == get_provider_info()
    assert get_provider_info()["package-name"] == "airflow-provider-ccai"


def test_every_listed_module_and_class_imports():
    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for item in info[kind]
        for m in item["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for path in [*info["notifications"], *(c["hook-class-name"] for c in info["connection-types"])]:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)


def test_connection_type_matches_the_hook():
    [conn] = get_provider_info()["connection-types"]
    assert conn["connection-type"] == CloudContactHook.conn_type == "ccai"
    assert conn["hook-name"] == CloudContactHook.hook_name
    assert conn["hook-class-name"] == f"{CloudContactHook.__module__}.{CloudContactHook.__qualname__}"


def test_yaml_form_metadata_and_python_form_agree():
    """Airflow 3.2+ reads conn-fields/ui-field-behaviour; 2.11 calls the hook's methods: same form."""
    [conn] = get_provider_info()["connection-types"]
    behaviour = CloudContactHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == conn["ui-field-behaviour"]["relabeling"]
    assert behaviour["placeholders"] == conn["ui-field-behaviour"]["placeholders"]
    assert set(conn["conn-fields"]) == set(CONN_FIELDS)
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "API Key", "host": "API base URL"}
    assert set(conn["ui-field-behaviour"]["placeholders"]) - {"login", "password", "host"} <= set(CONN_FIELDS)


def test_connection_form_as_airflow_builds_it():
    """What the UI gets: Airflow 3 serves it as hook metadata (from conn-fields on 3.2+), 2.11 from the widgets."""
    from airflow_provider_ccai.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

        [meta] = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == "ccai"]
        labels = {name: field["schema"]["title"] for name, field in meta.extra_fields.items()}
        assert (meta.standard_fields.login.title, meta.standard_fields.password.title) == ("Client ID", "API Key")
        assert meta.standard_fields.port.hidden
    else:
        widgets = CloudContactHook.get_connection_form_widgets()
        labels = {name: str(field.args[0]) for name, field in widgets.items()}
        assert {name: field.kwargs["description"] for name, field in widgets.items()} == {
            name: field["description"] for name, field in CONN_FIELDS.items()
        }
    assert labels == {name: field["label"] for name, field in CONN_FIELDS.items()}
