"""Airflow discovers the provider through its entry point and offers the MetaStudio connection form."""

from __future__ import annotations

import json

from airflow.providers_manager import ProvidersManager
from airflow.sdk import Connection
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

from metastudio_provider.hooks.connection_config import ALLOWED_EXTRAS
from metastudio_provider.hooks.metastudio import MetaStudioHook


def test_providers_manager_offers_the_metastudio_connection_type() -> None:
    manager = ProvidersManager()
    assert "airflow-provider-metastudio" in manager.providers
    hook_info = ProvidersManagerTaskRuntime().hooks["metastudio"]
    assert hook_info.hook_class_name == "metastudio_provider.hooks.metastudio.MetaStudioHook"
    assert hook_info.connection_id_attribute_name == "metastudio_conn_id"
    assert hook_info.hook_name == "Huawei Cloud MetaStudio"
    behaviour = manager.field_behaviours["metastudio"]
    assert behaviour["relabeling"]["login"] == "Access key (AK)"
    form_fields = {key.rsplit("__", 1)[-1] for key in manager.connection_form_widgets if "metastudio" in key}
    assert form_fields == set(ALLOWED_EXTRAS)  # the form offers exactly the extras the hook accepts


def test_connection_get_hook_builds_a_metastudio_hook() -> None:
    extra = json.dumps({"project_id": "p1"})
    connection = Connection(
        conn_id="ms_hook", conn_type="metastudio", host="http://127.0.0.1:9", login="a", password="b", extra=extra
    )
    hook = connection.get_hook(hook_params={"method": "POST"})
    assert isinstance(hook, MetaStudioHook) and hook.metastudio_conn_id == "ms_hook" and hook.method == "POST"
