"""Request validation for the training-job operations (fields, types, enums, ranges of §5-§7).

Unknown fields are refused, JSON types are strict (``true`` is not an int, ``"1"`` is not an int),
and every failure is a 400 ``MSS.00000003`` whose message names the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metastudio_sandbox.errors import MSS_BAD_JSON, ApiError, invalid

COMMAND_MESSAGES = ("UPDATE_VIDEO", "UPLOAD_VIDEO", "CONFIRM_ACTION_VIDEO", "GET_ACTION_VIDEO_MULTIPART")
SERVICES = ("VIDEO_2D", "LIVE_2D", "CHAT_2D")
COMMANDS = (
    "SUBMITVERIFYING",
    "CONFIRM_ACCEPT",
    "CONFIRM_REJECT",
    "CONFIRM_ANSWER",
    "CONFIRM_PENDING",
    "CONFIRM_ACTIVE",
    "GET_MULTIPART_UPLOADED",
    "CONFIRM_REPAIR",
    "CONFIRM_MULTIPART_UPLOADED",
    "GET_ACTION_VIDEO_MULTIPART_UPLOADED",
    "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED",
    "CONFIRM_AUTHORIZATION_LETTER",
    "DELETE_JOB_VIDEO",
)


class Check:
    def __call__(self, value: Any, name: str) -> Any:
        raise NotImplementedError


@dataclass
class Str(Check):
    min_len: int = 0
    max_len: int = 256
    enum: tuple[str, ...] = ()

    def __call__(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        if not self.min_len <= len(value) <= self.max_len:
            raise invalid(name, f"length must be {self.min_len}-{self.max_len}")
        if self.enum and value not in self.enum:
            raise invalid(name, f"must be one of {', '.join(self.enum)}")
        return value


@dataclass
class Int(Check):
    minimum: int
    maximum: int

    def __call__(self, value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(name, "must be an integer")
        if not self.minimum <= value <= self.maximum:
            raise invalid(name, f"must be between {self.minimum} and {self.maximum}")
        return value


class Bool(Check):
    def __call__(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool):
            raise invalid(name, "must be a boolean")
        return value


@dataclass
class ListOf(Check):
    item: Check
    max_items: int = 1000

    def __call__(self, value: Any, name: str) -> list[Any]:
        if not isinstance(value, list):
            raise invalid(name, "must be an array")
        if len(value) > self.max_items:
            raise invalid(name, f"must have at most {self.max_items} items")
        return [self.item(item, f"{name}[{index}]") for index, item in enumerate(value)]


@dataclass
class Obj(Check):
    fields: dict[str, Check]
    required: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, value: Any, name: str = "body") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid(name, "must be a JSON object")
        prefix = "" if name == "body" else f"{name}."
        for key in value:
            if key not in self.fields:
                raise invalid(f"{prefix}{key}", "is not a known field")
        for key in self.required:
            if value.get(key) is None:
                raise invalid(f"{prefix}{key}", "is required")
        return {key: self.fields[key](val, f"{prefix}{key}") for key, val in value.items() if val is not None}


VOICE_PROPERTIES = Obj(
    {
        "job_tag": Str(1, 64, ("ECOMMERCE", "NEWS", "MARKETING")),
        "sex": Str(1, 64, ("FEMALE", "MALE")),
        "language": Str(1, 64, ("CN", "EN")),
    },
    required=("job_tag", "sex", "language"),
)
_COMMON: dict[str, Check] = {
    "name": Str(1, 256),
    "contact": Str(0, 64),
    "command_message": Str(0, 64, COMMAND_MESSAGES),
    "video_multipart_count": Int(1, 1000),
    "action_video_multipart_count": Int(1, 1000),
    "is_background_replacement": Bool(),
    "batch_name": Str(1, 256),
    "tags": ListOf(Str(1, 256), 100),
    "is_fast_flexus": Bool(),
    "voice_properties": VOICE_PROPERTIES,
    "supported_service": ListOf(Str(1, 64, SERVICES), 3),
    "audio_source_type": Str(1, 64, ("VIDEO", "AUDIO")),
}
CREATE_BODY = Obj(
    {
        **_COMMON,
        "model_version": Str(1, 64, ("V2", "V3", "V3.2", "V3.3")),
        "is_ondemand_resource": Bool(),
        "is_flexus": Bool(),
        "is_live_copy": Bool(),
        "is_only_human_model": Bool(),
    },
    required=("name",),
)
SAMPLE = Obj(
    {
        "action_name_zh": Str(1, 1028),
        "action_name_en": Str(1, 1028),
        "action_tag": Str(1, 128),
        "catalog": Str(1, 128),
        "recommended_value": Int(0, 100),
        "is_selected": Bool(),
    },
    required=("action_tag",),
)
UPDATE_BODY = Obj({**_COMMON, "samples_basic_info": ListOf(SAMPLE, 1000)})
COMMAND_BODY = Obj(
    {
        "command": Str(1, 64, COMMANDS),
        "command_message": Str(0, 64, COMMAND_MESSAGES),
        "comment_data": Obj(
            {
                "comment_title": Str(0, 2048),
                "comment_message": Str(0, 2048),
                "attachment_name": ListOf(Str(1, 256), 100),
            }
        ),
        "operation_reason": Str(0, 2048),
    },
    required=("command",),
)


def parse_json_body(raw: bytes) -> Any:
    """Decode a JSON request body (an empty body reads as ``{}``)."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, MSS_BAD_JSON, f"Request JSON exception: {exc.__class__.__name__} at {exc}") from None


# List query ---------------------------------------------------------------------------------

SORT_KEYS = ("create_time", "update_time", "asset_order")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_QUERY_STRINGS = {
    "state": 1024,
    "sort_key": 128,
    "sort_dir": 128,
    "query_project_id": 256,
    "batch_name": 256,
    "tag": 256,
    "job_id": 64,
    "name": 256,
    "model_resolution": 256,
    "train_location": 256,
}
_QUERY_TIMES = ("create_until", "create_since", "update_since", "update_until")
_QUERY_BOOLS = ("is_flexus", "is_live_copy", "is_ondemand_resource")


def parse_list_query(params: Mapping[str, str]) -> dict[str, Any]:
    """Validate the documented List filters; unknown parameters are ignored like the gateway does."""
    out: dict[str, Any] = {"offset": 0, "limit": 10, "sort_key": "create_time", "sort_dir": "asc"}
    for key, (low, high) in {"offset": (0, 2147483647), "limit": (1, 100)}.items():
        if key in params:
            try:
                value = int(params[key])
            except ValueError:
                raise invalid(key, "must be an integer") from None
            out[key] = Int(low, high)(value, key)
    for key, max_len in _QUERY_STRINGS.items():
        if key in params:
            out[key] = Str(0, max_len)(params[key], key)
    for key in _QUERY_TIMES:
        if key in params:
            if not _TIME.match(params[key]):
                raise invalid(key, "must be a time like 2025-01-01T00:00:00Z")
            out[key] = params[key]
    for key in _QUERY_BOOLS:
        if key in params:
            if params[key] not in ("true", "false"):
                raise invalid(key, "must be true or false")
            out[key] = params[key] == "true"
    if out["sort_key"] not in SORT_KEYS:
        raise invalid("sort_key", f"must be one of {', '.join(SORT_KEYS)}")
    if out["sort_dir"] not in ("asc", "desc"):
        raise invalid("sort_dir", "must be asc or desc")
    return out
