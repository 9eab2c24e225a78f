"""Provider metadata for Airflow's ProvidersManager."""

from __future__ import annotations

from typing import Any

from metastudio_provider import __version__


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

    Declares the ``metastudio`` connection type with its form (``conn-fields`` and
    ``ui-field-behaviour``), so the UI offers exactly the extras the hook accepts.
    """
    return {
        "package-name": "airflow-provider-metastudio",
        "name": "Huawei Cloud MetaStudio",
        "description": "Huawei Cloud MetaStudio avatar-training jobs: hook, operators, sensor and notifier.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Huawei Cloud MetaStudio",
                "python-modules": [
                    "metastudio_provider.hooks.metastudio",
                    "metastudio_provider.hooks.metastudio_async",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Huawei Cloud MetaStudio",
                "python-modules": ["metastudio_provider.sensors.training_job"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Huawei Cloud MetaStudio",
                "python-modules": ["metastudio_provider.triggers.training_job"],
            }
        ],
        "notifications": ["metastudio_provider.notifications.webhook.MetaStudioAlertNotifier"],
        "connection-types": [
            {
                "connection-type": "metastudio",
                "hook-class-name": "metastudio_provider.hooks.metastudio.MetaStudioHook",
                "hook-name": "Huawei Cloud MetaStudio",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "MetaStudio endpoint URL",
                        "login": "Access key (AK)",
                        "password": "Secret key (SK) or IAM password",
                    },
                    "placeholders": {
                        "host": "https://metastudio.cn-north-4.myhuaweicloud.com",
                        "login": "AK (leave empty for token auth)",
                        "password": "SK, or the IAM user's password when auth method is 'token'",
                    },
                },
                "conn-fields": _CONN_FIELDS,
            }
        ],
    }


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


_NUMBER = {"type": ["number", "null"], "minimum": 0}
_PRINTABLE_TEXT = {"type": ["string", "null"], "maxLength": 256}

# The one description of the connection extras: the UI form (``conn-fields``) and the hook's
# validation (``connection_config.EXTRAS_SCHEMA``) are both built from it.
_CONN_FIELDS: dict[str, Any] = {
    "project_id": _field("Project ID", "MetaStudio project id (required).", {"type": "string", "maxLength": 64}),
    "auth_method": _field(
        "Auth method",
        "'aksk' signs requests with AK/SK (default); 'token' uses an IAM password token.",
        {"type": ["string", "null"], "enum": ["aksk", "token", None], "default": "aksk"},
    ),
    "iam_endpoint": _field(
        "IAM endpoint",
        "Token auth only, e.g. https://iam.cn-north-4.myhuaweicloud.com.",
        {"type": ["string", "null"], "maxLength": 2048},
    ),
    "domain_name": _field("Account (domain) name", "Token auth only.", _PRINTABLE_TEXT),
    "user_name": _field("IAM user name", "Token auth only.", _PRINTABLE_TEXT),
    "app_user_id": _field(
        "App user id", "Sent as X-App-UserId (printable ASCII, 1-256 chars).", {"type": ["string", "null"]}
    ),
    "connect_timeout": _field("Connect timeout (s)", "Default 10.", _NUMBER),
    "read_timeout": _field("Read timeout (s)", "Longest silence while reading an answer (default 60).", _NUMBER),
    "request_timeout": _field(
        "Request timeout (s)",
        "Wall-clock limit of one API/IAM request, slow headers and bodies included (default 120).",
        _NUMBER,
    ),
    "max_response_bytes": _field(
        "Max answer size (bytes)",
        "Largest API or IAM answer read; a larger one is an error (default 8388608 = 8 MiB).",
        {"type": ["integer", "null"], "minimum": 1},
    ),
    "retry_limit": _field(
        "Retry limit",
        "Retries after the first attempt (default 5).",
        {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
    ),
    "retry_delay": _field("Retry base delay (s)", "Exponential backoff base (default 1).", _NUMBER),
    "retry_max_delay": _field("Retry max delay (s)", "Longest single wait (default 60).", _NUMBER),
    "retry_deadline": _field(
        "Retry deadline (s)",
        "Wall-clock limit of one API call, every attempt and wait included (default 600).",
        _NUMBER,
    ),
    "upload_deadline": _field(
        "Upload deadline (s)", "Wall-clock limit of one upload, every attempt included (default 3600).", _NUMBER
    ),
    "verify": _field(
        "Verify TLS", "true (default), false, or a CA bundle path.", {"type": ["boolean", "string", "null"]}
    ),
}


def connection_extras_schema() -> dict[str, Any]:
    """The JSON Schema of a ``metastudio`` connection's extras (unknown keys are refused)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: {**spec["schema"], "title": spec["label"], "description": spec["description"]}
            for name, spec in _CONN_FIELDS.items()
        },
    }
