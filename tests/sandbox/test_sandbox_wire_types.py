"""Raw JSON of every operation has the documented field names and JSON types (metastudio-wire-schema.md)."""

from __future__ import annotations

from typing import Any

import requests
from sandbox_helpers import JOBS_PATH, Api, upload_all

STR, INT, BOOL = str, int, bool
BASIC_INFO: dict[str, Any] = {
    "job_id": STR,
    "name": STR,
    "state": STR,
    "asset_id": STR,
    "project_id": STR,
    "cover_download_url": STR,
    "last_update_time": STR,
    "create_time": STR,
    "contact": STR,
    "batch_name": STR,
    "tags": [STR],
    "model_version": STR,
    "matting_type": STR,
    "model_resolution": STR,
    "app_user_id": STR,
    "is_flexus": BOOL,
    "is_live_copy": BOOL,
    "is_fast_flexus": BOOL,
    "is_only_human_model": BOOL,
    "optional_training_location": [STR],
    "is_background_replacement": BOOL,
    "is_ondemand_resource": BOOL,
}
OPERATION_LOG = {
    "operate_time": STR,
    "log_type": STR,
    "log_description": STR,
    "operate_user": STR,
    "error_code": STR,
    "redo_reasons": [STR],
}
SHOW: dict[str, Any] = {
    **BASIC_INFO,
    **{
        name: STR
        for name in (
            "training_video_download_url",
            "id_card_image1_download_url",
            "id_card_image2_download_url",
            "grant_file_download_url",
            "pre_beauty_image_download_url",
            "external_action_json_data_download_url",
            "action_video_download_url",
            "post_beauty_image_download_url",
            "audio_file_download_url",
            "action_mark_file_download_url",
            "action_mark_file_upload_url",
            "mask_file_download_url",
            "verify_video_download_url",
            "markable_video_download_url",
            "markable_action_video_download_url",
            "voice_train_job_id",
            "audio_source_type",
            "train_video_rotation_state",
            "action_video_rotation_state",
        )
    },
    "operation_logs": [OPERATION_LOG],
    "verify_video_matting_info": [{"dx": INT, "dy": INT, "width": INT, "height": INT, "method": STR}],
    "comment_logs": [
        {
            "operate_time": STR,
            "comment_type": STR,
            "comment_title": STR,
            "comment_message": STR,
            "attachment_download_url": [STR],
        }
    ],
    "samples": [
        {
            "action_name_zh": STR,
            "action_name_en": STR,
            "action_tag": STR,
            "catalog": STR,
            "recommended_value": INT,
            "is_selected": BOOL,
            "sample_download_url": STR,
        }
    ],
    "is_mask_file_uploaded": BOOL,
    "traning_video_mark_info": {"video_start_time": STR, "video_end_time": STR},
    "voice_properties": {"job_tag": STR, "sex": STR, "language": STR},
    "worker_type": [STR],
    "flexus_retry_count": INT,
    "supported_service": [STR],
    "allocated_resource": {"resource_id": STR, "charge_mode": STR, "expire_time": STR},
    "sub_training_job_info": [
        {
            "job_id": STR,
            "sub_job_type": STR,
            "heart_beat_id": STR,
            "state": STR,
            "create_time": INT,
            "last_update_time": INT,
        }
    ],
}
UPLOAD_URLS: dict[str, Any] = {
    "job_id": STR,
    "training_video_upload_url": [STR],
    "action_video_upload_url": [STR],
    "audio_upload_url": STR,
    "cover_upload_url": STR,
    "id_card_image1_upload_url": STR,
    "id_card_image2_upload_url": STR,
    "grant_file_upload_url": STR,
    "pre_beauty_image_upload_url": STR,
    "post_beauty_image_upload_url": STR,
}
COMMAND: dict[str, Any] = {
    "commond_result": STR,
    "attachment_upload_url": [STR],
    "multipart_data": [{"part_number": STR, "etag": STR}],
    "excute_failed_msg": STR,
    "error_info": {"error_code": STR, "error_msg": STR},
}
ERROR = {"error_code": STR, "error_msg": STR, "request_id": STR}


def check(value: Any, schema: Any, where: str = "$") -> None:
    """Assert ``value`` has only documented fields, each of the documented JSON type."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), f"{where} is not an object"
        for key, item in value.items():
            assert key in schema, f"{where}.{key} is not a documented field"
            check(item, schema[key], f"{where}.{key}")
    elif isinstance(schema, list):
        assert isinstance(value, list), f"{where} is not an array"
        for index, item in enumerate(value):
            check(item, schema[0], f"{where}[{index}]")
    elif schema is INT:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where} is not an integer"
    else:
        assert type(value) is schema, f"{where} is {type(value).__name__}, not {schema.__name__}"


def test_list_and_show_types(api: Api) -> None:
    listed = api.list(limit=100)
    assert listed.headers["X-Request-Id"]
    check(listed.json(), {"count": INT, "jobs": [BASIC_INFO]})
    assert listed.json()["count"] >= 9
    for job in listed.json()["jobs"]:
        shown = api.show(job["job_id"])
        check(shown.json(), SHOW)
        for key in ("job_id", "name", "state", "create_time", "last_update_time", "operation_logs"):
            assert key in shown.json()
        for time_field in ("create_time", "last_update_time"):
            assert len(shown.json()[time_field]) == 20


def test_create_update_command_delete_types(api: Api) -> None:
    created = api.create({"name": "types", "video_multipart_count": 2, "action_video_multipart_count": 1})
    check(created.json(), UPLOAD_URLS)
    assert len(created.json()["action_video_upload_url"]) == 1
    upload_all(api, created.json())
    for command in ("GET_MULTIPART_UPLOADED", "CONFIRM_MULTIPART_UPLOADED", "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED"):
        answer = api.command(created.json()["job_id"], command)
        assert answer.status_code == 200
        assert answer.headers["X-Request-Id"]
        check(answer.json(), COMMAND)
    failed_job = api.job_ids_in("AUTO_VERIFY_FAILED")[0]
    updated = api.update(failed_job, {"name": "renamed"})
    check(updated.json(), UPLOAD_URLS)
    assert "action_video_upload_url" not in updated.json()  # only when action_video_multipart_count is sent
    deleted = api.delete(created.json()["job_id"])
    assert deleted.status_code == 200
    assert deleted.content == b""
    assert deleted.headers["X-Request-Id"]


def test_errors_have_envelope_and_request_id(api: Api) -> None:
    for answer in (
        api.show("0" * 32),
        api.create({"name": 5}),
        api.call("GET", "/v1/nope"),
        requests.get(api.base + "/_obs/upload/abc", timeout=5),
        requests.get(api.base + JOBS_PATH, timeout=5),
    ):
        assert answer.status_code >= 400
        assert len(answer.headers["X-Request-Id"]) == 32
        check(answer.json(), ERROR)
