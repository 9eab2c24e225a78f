"""Validate request bodies against the documented MetaStudio fields, enums and ranges.

The limits come from Huawei's API reference and SDK models (see ``docs/configuration.md``). A
body that fails is never sent: the error names the field, so a bad corrections manifest is
caught before it costs an API call or invalidates a job's upload URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from metastudio_provider.exceptions import MetaStudioValidationError
from metastudio_provider.models import COMMANDS

_COMMAND_MESSAGES = ["UPDATE_VIDEO", "UPLOAD_VIDEO", "CONFIRM_ACTION_VIDEO", "GET_ACTION_VIDEO_MULTIPART"]
_SERVICES = ["VIDEO_2D", "LIVE_2D", "CHAT_2D"]

_VOICE_PROPERTIES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["job_tag", "sex", "language"],
    "properties": {
        "job_tag": {"enum": ["ECOMMERCE", "NEWS", "MARKETING"]},
        "sex": {"enum": ["FEMALE", "MALE"]},
        "language": {"enum": ["CN", "EN"]},
    },
}

_SAMPLE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action_tag"],
    "properties": {
        "action_name_zh": {"type": "string", "minLength": 1, "maxLength": 1028},
        "action_name_en": {"type": "string", "minLength": 1, "maxLength": 1028},
        "action_tag": {"type": "string", "minLength": 1, "maxLength": 128},
        "catalog": {"type": "string", "minLength": 1, "maxLength": 128},
        "recommended_value": {"type": "integer", "minimum": 0, "maximum": 100},
        "is_selected": {"type": "boolean"},
    },
}

_COMMON_JOB_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 256},
    "contact": {"type": "string", "maxLength": 64},
    "command_message": {"enum": _COMMAND_MESSAGES},
    "video_multipart_count": {"type": "integer", "minimum": 1, "maximum": 1000},
    "action_video_multipart_count": {"type": "integer", "minimum": 1, "maximum": 1000},
    "is_background_replacement": {"type": "boolean"},
    "batch_name": {"type": "string", "minLength": 1, "maxLength": 256},
    "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 256}},
    "is_fast_flexus": {"type": "boolean"},
    "voice_properties": _VOICE_PROPERTIES,
    "supported_service": {"type": "array", "items": {"enum": _SERVICES}, "uniqueItems": True},
    "audio_source_type": {"enum": ["VIDEO", "AUDIO"]},
}

UPDATE_BODY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Update2dModelTrainingJobReq",
    "type": "object",
    "additionalProperties": False,
    "properties": {**_COMMON_JOB_FIELDS, "samples_basic_info": {"type": "array", "items": _SAMPLE}},
}

CREATE_BODY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Create2dModelTrainingJobReq",
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        **_COMMON_JOB_FIELDS,
        "model_version": {"enum": ["V2", "V3", "V3.2", "V3.3"]},
        "is_ondemand_resource": {"type": "boolean"},
        "is_flexus": {"type": "boolean"},
        "is_live_copy": {"type": "boolean"},
        "is_only_human_model": {"type": "boolean"},
    },
}

COMMAND_BODY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Execute2dModelTrainingCommandByUserReq",
    "type": "object",
    "additionalProperties": False,
    "required": ["command"],
    "properties": {
        "command": {"enum": sorted(COMMANDS)},
        "command_message": {"enum": _COMMAND_MESSAGES},
        "comment_data": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "comment_title": {"type": "string", "maxLength": 2048},
                "comment_message": {"type": "string", "maxLength": 2048},
                "attachment_name": {"type": "array", "items": {"type": "string"}},
            },
        },
        "operation_reason": {"type": "string", "maxLength": 2048},
    },
}


def validate_body(body: Any, schema: Mapping[str, Any], *, operation: str) -> None:
    """Raise :class:`MetaStudioValidationError` naming the first offending field (most specific first)."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda error: (len(error.path), list(error.path)))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors) or errors[0]
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        where = f" in {path}" if path else ""
        raise MetaStudioValidationError(
            f"unknown field(s) {', '.join(unknown)}{where}; allowed: {', '.join(sorted(error.schema['properties']))}",
            operation=operation,
            field=".".join(filter(None, [path, unknown[0] if unknown else None])),
        )
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        field = ".".join(filter(None, [path, missing]))
        raise MetaStudioValidationError(f"missing required field {field}", operation=operation, field=field)
    field = path or "<body>"
    raise MetaStudioValidationError(f"invalid field {field}: {_describe(error)}", operation=operation, field=field)


def _describe(error: jsonschema.ValidationError) -> str:
    instance = error.instance
    shown = repr(instance) if len(repr(instance)) <= 60 else repr(instance)[:57] + "..."
    if error.validator == "enum":
        return f"{shown} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator in ("minimum", "maximum"):
        return f"{shown} is out of range ({error.validator} {error.validator_value})"
    if error.validator in ("minLength", "maxLength"):
        return f"length {len(instance)} is out of range ({error.validator} {error.validator_value})"
    if error.validator == "type":
        return f"{shown} is not of type {error.validator_value}"
    return error.message
