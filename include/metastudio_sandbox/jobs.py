"""The training-job state machine behind the six MetaStudio operations."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from metastudio_sandbox.assets import ASSETS
from metastudio_sandbox.errors import (
    MSS_JOB_NOT_FOUND,
    MSS_NA_ONLY,
    MSS_PARTS_MISSING,
    MSS_STATE_CONFLICT,
    ApiError,
    invalid,
)
from metastudio_sandbox.review import review
from metastudio_sandbox.settings import Settings
from metastudio_sandbox.store import FileRecord, Store
from metastudio_sandbox.timeutil import rfc3339
from metastudio_sandbox.uploads import DOWNLOAD_PREFIX, UPLOAD_PREFIX, UrlSigner
from metastudio_sandbox.views import basic_info, operation_log, show_view

log = logging.getLogger(__name__)

UPDATABLE_STATES = ("AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED")
UPLOADING_STATES = ("WAIT_FILE_UPLOAD", *UPDATABLE_STATES)
DELETABLE_STATES = (
    "WAIT_FILE_UPLOAD",
    "AUTO_VERIFY_FAILED",
    "MANUAL_VERIFYING",
    "MANUAL_VERIFY_FAILED",
    "TRAINING_DATA_PREPROCESS_FAILED",
    "TRAIN_FAILED",
    "INFERENCE_DATA_PREPROCESS_FAILED",
    "JOB_SUCCESS",
    "WAIT_USER_CONFIRM",
    "JOB_REJECT",
    "JOB_FINISH",
)
NA_ONLY_COMMANDS = ("CONFIRM_ACCEPT", "CONFIRM_REJECT", "CONFIRM_ANSWER", "CONFIRM_PENDING", "CONFIRM_ACTIVE")
REVIEW_PASS_STATE = "MANUAL_VERIFY_SUCCESS"  # noqa: S105 - a job state
REVIEW_FAIL_STATE = "AUTO_VERIFY_FAILED"
COPY_CHUNK = 8 * 1024 * 1024

Scheduler = Callable[[float, Callable[[], None]], None]


def new_job(job_id: str, body: dict[str, Any], project_id: str, now: str, app_user_id: str | None) -> dict[str, Any]:
    """A fresh job document in WAIT_FILE_UPLOAD; public fields flat, internal ones under ``_meta``."""
    return {
        "job_id": job_id,
        "name": body["name"],
        "state": "WAIT_FILE_UPLOAD",
        "project_id": project_id,
        "create_time": now,
        "last_update_time": now,
        "contact": body.get("contact"),
        "batch_name": body.get("batch_name"),
        "tags": body.get("tags", []),
        "model_version": body.get("model_version", "V3.2"),
        "matting_type": "AI",
        "model_resolution": "1080P",
        "app_user_id": app_user_id,
        "is_flexus": body.get("is_flexus", False),
        "is_live_copy": body.get("is_live_copy", False),
        "is_fast_flexus": body.get("is_fast_flexus", False),
        "is_only_human_model": body.get("is_only_human_model", False),
        "optional_training_location": [],
        "is_background_replacement": body.get("is_background_replacement", True),
        "is_ondemand_resource": body.get("is_ondemand_resource", False),
        "operation_logs": [operation_log(now, "USER_CREATE_JOD", "USER")],
        "comment_logs": [],
        "samples": [],
        "verify_video_matting_info": [],
        "is_mask_file_uploaded": False,
        "worker_type": [],
        "audio_source_type": body.get("audio_source_type", "VIDEO"),
        "supported_service": body.get("supported_service", ["VIDEO_2D"]),
        "voice_properties": body.get("voice_properties"),
        "_meta": {
            "video_parts": 1,
            "action_parts": 0,
            "video_confirmed": False,
            "action_confirmed": False,
            "letter_confirmed": False,
            "submissions": 0,
            "review_due": None,
            "known_bad": {},
        },
    }


def _failed(code: str, message: str) -> dict[str, Any]:
    return {
        "commond_result": "EXCUTE_FAILED",
        "excute_failed_msg": message,
        "error_info": {"error_code": code, "error_msg": message},
    }


class JobService:
    """Create/list/show/update/delete/command over the store; schedules review verdicts."""

    def __init__(self, store: Store, settings: Settings, signer: UrlSigner) -> None:
        self.store = store
        self.settings = settings
        self.signer = signer
        self.scheduler: Scheduler | None = None  # set by the app once its event loop runs

    # Helpers --------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any]:
        job = self.store.get_job(job_id)
        if job is None:
            raise ApiError(404, MSS_JOB_NOT_FOUND, f"Training job {job_id} does not exist")
        return job

    def download_url_factory(self, base: str) -> Callable[[str, str], str]:
        expires = int(time.time() + self.settings.url_ttl)
        return lambda job_id, asset: self.signer.url(base, "GET", f"{DOWNLOAD_PREFIX}{job_id}/{asset}", expires)

    def _issue(self, job: dict[str, Any], asset: str, part: int, base: str, expires: int) -> str:
        url_id = self.store.add_url(job["job_id"], asset, part, ASSETS[asset].content_type, expires)
        return self.signer.url(base, "PUT", f"{UPLOAD_PREFIX}{url_id}", expires)

    def _issue_urls(self, job: dict[str, Any], body: dict[str, Any], base: str) -> dict[str, Any]:
        """Fresh URLs for every asset; older unused URLs and staged video parts are dropped."""
        self.store.supersede_urls(job["job_id"])
        self.store.drop_parts(job["job_id"], "training_video")
        self.store.drop_parts(job["job_id"], "action_video")
        meta = job["_meta"]
        meta["video_parts"] = body.get("video_multipart_count", 1)
        meta["action_parts"] = body.get("action_video_multipart_count", 0)
        expires = int(time.time() + self.settings.url_ttl)
        answer: dict[str, Any] = {"job_id": job["job_id"]}
        for asset in ASSETS.values():
            if asset.multipart:
                count = meta["video_parts"] if asset.name == "training_video" else meta["action_parts"]
                if count:
                    answer[asset.upload_field] = [
                        self._issue(job, asset.name, part, base, expires) for part in range(1, count + 1)
                    ]
            else:
                answer[asset.upload_field] = self._issue(job, asset.name, 0, base, expires)
        return answer

    # Operations -----------------------------------------------------------------------------

    def list_jobs(self, query: dict[str, Any], base: str) -> dict[str, Any]:
        jobs = [job for job in self.store.all_jobs() if self._matches(job, query)]
        key = {"create_time": "create_time", "update_time": "last_update_time", "asset_order": "asset_id"}[
            query["sort_key"]
        ]
        jobs.sort(key=lambda job: (job.get(key) or "", job["job_id"]), reverse=query["sort_dir"] == "desc")
        page = jobs[query["offset"] : query["offset"] + query["limit"]]
        download_url = self.download_url_factory(base)
        return {
            "count": len(jobs),
            "jobs": [basic_info(job, download_url, self.store.files_of(job["job_id"], "cover")) for job in page],
        }

    def _matches(self, job: dict[str, Any], query: dict[str, Any]) -> bool:
        checks = [
            ("state" not in query) or job["state"] in query["state"].split(","),
            job["create_time"] >= query.get("create_since", ""),
            job["create_time"] <= query.get("create_until", "9"),
            job["last_update_time"] >= query.get("update_since", ""),
            job["last_update_time"] <= query.get("update_until", "9"),
            query.get("query_project_id", job["project_id"]) == job["project_id"],
            query.get("batch_name", job.get("batch_name")) == job.get("batch_name"),
            ("tag" not in query) or query["tag"] in job.get("tags", []),
            query.get("job_id", job["job_id"]) == job["job_id"],
            query.get("name", "") in job["name"],
            query.get("model_resolution", job.get("model_resolution")) == job.get("model_resolution"),
            ("train_location" not in query) or query["train_location"] in job["optional_training_location"],
        ]
        for flag in ("is_flexus", "is_live_copy", "is_ondemand_resource"):
            checks.append(query.get(flag, bool(job.get(flag))) == bool(job.get(flag)))
        return all(checks)

    def show(self, job_id: str, base: str) -> dict[str, Any]:
        job = self.get(job_id)
        return show_view(job, self.download_url_factory(base), self.store.files_of(job_id))

    def create(self, body: dict[str, Any], app_user_id: str | None, base: str) -> dict[str, Any]:
        job = new_job(uuid.uuid4().hex, body, self.settings.project_id, rfc3339(), app_user_id)
        answer = self._issue_urls(job, body, base)
        self.store.put_job(job)
        return answer

    def update(self, job_id: str, body: dict[str, Any], base: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job["state"] not in UPDATABLE_STATES:
            raise ApiError(
                400,
                MSS_STATE_CONFLICT,
                f"Job {job_id} is in state {job['state']}; update is allowed only in {' or '.join(UPDATABLE_STATES)}",
            )
        services = body.get("supported_service")
        if job.get("is_flexus") and services is not None and list(services) != ["VIDEO_2D"]:
            # Documented: "Flexus supports only VIDEO_2D". Only the server knows the job is Flexus.
            raise invalid("supported_service", "a Flexus (basic edition) job supports only VIDEO_2D")
        for key in (
            "name",
            "contact",
            "batch_name",
            "tags",
            "is_background_replacement",
            "is_fast_flexus",
            "voice_properties",
            "supported_service",
            "audio_source_type",
        ):
            if key in body:
                job[key] = body[key]
        if "samples_basic_info" in body:
            job["samples"] = body["samples_basic_info"]
        now = rfc3339()
        job["last_update_time"] = now
        message = body.get("command_message", "UPDATE_VIDEO")
        job["operation_logs"].append(operation_log(now, "USER_UPDATE_VIDEO", "USER", f"command_message={message}"))
        answer = self._issue_urls(job, body, base)
        self.store.put_job(job)
        return answer

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job["state"] not in DELETABLE_STATES:
            raise ApiError(400, MSS_STATE_CONFLICT, f"Job {job_id} cannot be deleted in state {job['state']}")
        self.store.delete_job(job_id)

    async def command(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        job = self.get(job_id)
        command = body["command"]
        if command in NA_ONLY_COMMANDS:
            return _failed(MSS_NA_ONLY, f"{command} is available to NA-whitelisted accounts only")
        if command == "GET_MULTIPART_UPLOADED":
            return self._parts_answer(job_id, "training_video")
        if command == "GET_ACTION_VIDEO_MULTIPART_UPLOADED":
            return self._parts_answer(job_id, "action_video")
        if command == "CONFIRM_REPAIR":
            if job["state"] != "JOB_SUCCESS":
                return _failed(MSS_STATE_CONFLICT, f"CONFIRM_REPAIR needs state JOB_SUCCESS, job is {job['state']}")
            return self._log_and_succeed(job, "USER_REPAIR", body.get("operation_reason", ""))
        if job["state"] not in UPLOADING_STATES:
            return _failed(MSS_STATE_CONFLICT, f"{command} is not allowed in state {job['state']}")
        if command == "CONFIRM_MULTIPART_UPLOADED":
            return await self._confirm_video(job, "training_video", "video_parts", "video_confirmed")
        if command == "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED":
            return await self._confirm_video(job, "action_video", "action_parts", "action_confirmed")
        if command == "CONFIRM_AUTHORIZATION_LETTER":
            if not self.store.files_of(job_id, "grant_file"):
                return _failed(MSS_PARTS_MISSING, "The authorization letter (grant_file) has not been uploaded")
            job["_meta"]["letter_confirmed"] = True
            self.store.put_job(job)
            return {"commond_result": "EXCUTE_SUCCESS"}
        if command == "DELETE_JOB_VIDEO":
            for asset in ("training_video", "action_video"):
                self.store.drop_file(job_id, asset)
            job["_meta"].update(video_confirmed=False, action_confirmed=False)
            return self._log_and_succeed(job, "USER_DELETE_JOB_VIDEO", "")
        return self._submit(job)  # SUBMITVERIFYING: the only command left after schema validation

    def _log_and_succeed(self, job: dict[str, Any], log_type: str, description: str) -> dict[str, Any]:
        job["operation_logs"].append(operation_log(rfc3339(), log_type, "USER", description))
        self.store.put_job(job)
        return {"commond_result": "EXCUTE_SUCCESS"}

    def _parts_answer(self, job_id: str, asset: str) -> dict[str, Any]:
        parts = [record for record in self.store.files_of(job_id, asset) if record.part > 0]
        return {
            "commond_result": "EXCUTE_SUCCESS",
            "multipart_data": [{"part_number": str(record.part), "etag": record.etag} for record in parts],
        }

    async def _confirm_video(self, job: dict[str, Any], asset: str, count_key: str, flag: str) -> dict[str, Any]:
        job_id = job["job_id"]
        expected = job["_meta"][count_key]
        if not expected:
            return _failed(MSS_PARTS_MISSING, f"No {asset} upload was requested for this job")
        present = {record.part: record for record in self.store.files_of(job_id, asset) if record.part > 0}
        missing = [str(part) for part in range(1, expected + 1) if part not in present]
        if missing:
            return _failed(
                MSS_PARTS_MISSING, f"{asset} part(s) {', '.join(missing)} of {expected} have not been uploaded"
            )
        parts = [present[part] for part in range(1, expected + 1)]
        record = await asyncio.to_thread(self._assemble, job_id, asset, parts)
        self.store.put_file(record)
        job["_meta"][flag] = True
        self.store.put_job(job)
        return {"commond_result": "EXCUTE_SUCCESS"}

    def _assemble(self, job_id: str, asset: str, parts: list[FileRecord]) -> FileRecord:
        """Concatenate the parts in order into the asset file (what OBS CompleteMultipartUpload does)."""
        target = self.store.file_path(job_id, asset, 0)
        temp = self.store.new_temp_path()
        digest = hashlib.sha256()
        size = 0
        with temp.open("wb") as out:
            for part in parts:
                with self.store.file_path(job_id, asset, part.part).open("rb") as source:
                    while chunk := source.read(COPY_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        temp.replace(target)
        sha256 = digest.hexdigest()
        return FileRecord(job_id, asset, 0, size, sha256, sha256[:32], parts[0].content_type, time.time())

    def _submit(self, job: dict[str, Any]) -> dict[str, Any]:
        now = rfc3339()
        meta = job["_meta"]
        meta["submissions"] += 1
        meta["review_due"] = time.time() + self.settings.review_delay
        job["state"] = "AUTO_VERIFYING"
        job["last_update_time"] = now
        job["operation_logs"].append(operation_log(now, "USER_VERIFYING_SUBMITTED", "USER"))
        self.store.put_job(job)
        self.schedule_review(job)
        return {"commond_result": "EXCUTE_SUCCESS"}

    # Review ---------------------------------------------------------------------------------

    def schedule_review(self, job: dict[str, Any]) -> None:
        meta = job["_meta"]
        if self.scheduler is None or meta.get("review_due") is None:
            return
        submission = meta["submissions"]
        delay = max(0.0, meta["review_due"] - time.time())
        self.scheduler(delay, lambda: self.finish_review(job["job_id"], submission))

    def resume_reviews(self) -> None:
        """After a restart: schedule every review that was pending when the sandbox stopped."""
        for job in self.store.all_jobs():
            if job["state"] == "AUTO_VERIFYING":
                self.schedule_review(job)

    def finish_review(self, job_id: str, submission: int) -> None:
        job = self.store.get_job(job_id)
        if job is None or job["state"] != "AUTO_VERIFYING" or job["_meta"]["submissions"] != submission:
            return  # deleted, moved by hand, or resubmitted since
        findings = review(job, self.store)
        now = rfc3339()
        job["_meta"]["review_due"] = None
        if findings:
            job["state"] = REVIEW_FAIL_STATE
            description = "; ".join(finding.description for finding in findings)
            job["operation_logs"].append(
                operation_log(now, "SYSTEM_VERIFY_FAILED", "SYSTEM", description, findings[0].error_code)
            )
        else:
            job["state"] = REVIEW_PASS_STATE
            job["_meta"]["known_bad"] = {}
            job["operation_logs"].append(
                operation_log(now, "SYSTEM_VERIFY_SUCCESS", "SYSTEM", "Automatic review passed")
            )
        self.store.put_job(job)
        log.info("Review of job %s: %s", job_id, job["state"])
