"""Wire views of a stored job: the List summary (TrainingJobBasicInfo) and the Show body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metastudio_sandbox.assets import ASSETS
from metastudio_sandbox.store import FileRecord

BASIC_FIELDS = (
    "job_id",
    "name",
    "state",
    "asset_id",
    "project_id",
    "cover_download_url",
    "last_update_time",
    "create_time",
    "contact",
    "batch_name",
    "tags",
    "model_version",
    "matting_type",
    "model_resolution",
    "app_user_id",
    "is_flexus",
    "is_live_copy",
    "is_fast_flexus",
    "is_only_human_model",
    "optional_training_location",
    "is_background_replacement",
    "is_ondemand_resource",
)
SHOW_FIELDS = (
    "action_mark_file_upload_url",
    "operation_logs",
    "verify_video_matting_info",
    "comment_logs",
    "samples",
    "is_mask_file_uploaded",
    "traning_video_mark_info",
    "voice_properties",
    "worker_type",
    "voice_train_job_id",
    "flexus_retry_count",
    "audio_source_type",
    "supported_service",
    "allocated_resource",
    "train_video_rotation_state",
    "action_video_rotation_state",
    "sub_training_job_info",
)
OPERATION_LOG_FIELDS = ("operate_time", "log_type", "log_description", "operate_user", "error_code", "redo_reasons")

DownloadUrl = Callable[[str, str], str]


def basic_info(job: dict[str, Any], download_url: DownloadUrl, files: list[FileRecord]) -> dict[str, Any]:
    view = {key: job[key] for key in BASIC_FIELDS if job.get(key) is not None}
    if any(record.asset == "cover" and record.part == 0 for record in files):
        view["cover_download_url"] = download_url(job["job_id"], "cover")
    return view


def show_view(job: dict[str, Any], download_url: DownloadUrl, files: list[FileRecord]) -> dict[str, Any]:
    view = basic_info(job, download_url, files)
    view.update({key: job[key] for key in SHOW_FIELDS if job.get(key) is not None})
    for record in files:
        if record.part == 0 and record.asset in ASSETS:
            view[ASSETS[record.asset].download_field] = download_url(job["job_id"], record.asset)
    return view


def operation_log(
    operate_time: str,
    log_type: str,
    operate_user: str,
    log_description: str = "",
    error_code: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operate_time": operate_time,
        "log_type": log_type,
        "log_description": log_description,
        "operate_user": operate_user,
    }
    if error_code:
        entry["error_code"] = error_code
    return entry
