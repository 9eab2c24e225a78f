"""SUBMITVERIFYING -> AUTO_VERIFYING -> a deterministic verdict after the review delay, logged in operation_logs."""

from __future__ import annotations

import time
from typing import Any

import requests
from sandbox_helpers import JPEG, OCTET, REVIEW_DELAY, Api, upload_all


def wait_for_verdict(api: Api, job_id: str) -> dict[str, Any]:
    deadline = time.time() + 5
    while time.time() < deadline:
        job = api.show(job_id).json()
        if job["state"] != "AUTO_VERIFYING":
            return job
        time.sleep(REVIEW_DELAY / 4)
    raise AssertionError("no verdict")


def test_complete_job_passes_review(api: Api) -> None:
    created = api.create({"name": "good", "video_multipart_count": 2}).json()
    upload_all(api, created)
    submitted = api.command(created["job_id"], "SUBMITVERIFYING").json()
    assert submitted["commond_result"] == "EXCUTE_SUCCESS"
    assert api.show(created["job_id"]).json()["state"] == "AUTO_VERIFYING"
    job = wait_for_verdict(api, created["job_id"])
    assert job["state"] == "MANUAL_VERIFY_SUCCESS"
    assert [log["log_type"] for log in job["operation_logs"]] == [
        "USER_CREATE_JOD",
        "USER_VERIFYING_SUBMITTED",
        "SYSTEM_VERIFY_SUCCESS",
    ]


def test_bad_files_fail_review_with_a_logged_reason(api: Api) -> None:
    created = api.create({"name": "bad"}).json()
    upload_all(api, created, video=b"RIFF....AVI LIST" * 10)
    requests.put(created["id_card_image2_upload_url"], data=b"GIF89a", headers=OCTET, timeout=5)  # stale URL
    api.command(created["job_id"], "SUBMITVERIFYING")
    job = wait_for_verdict(api, created["job_id"])
    assert job["state"] == "AUTO_VERIFY_FAILED"
    failure = job["operation_logs"][-1]
    assert failure["log_type"] == "SYSTEM_VERIFY_FAILED"
    assert failure["operate_user"] == "SYSTEM"
    assert failure["error_code"] == "44005904"
    assert "MP4" in failure["log_description"]
    assert len(failure["operate_time"]) == 20


def test_missing_assets_fail_review(api: Api) -> None:
    created = api.create({"name": "empty"}).json()
    api.command(created["job_id"], "SUBMITVERIFYING")
    job = wait_for_verdict(api, created["job_id"])
    failure = job["operation_logs"][-1]
    assert failure["error_code"] == "44005903"
    for words in ("Training video missing", "ID card", "Authorization letter missing"):
        assert words in failure["log_description"]


def test_remediation_of_a_seeded_failure(api: Api) -> None:
    """Update keeps the failed state; resubmitting unchanged files fails again; replacing the bad one passes."""
    job_id = next(
        job["job_id"]
        for job in api.list(state="AUTO_VERIFY_FAILED", limit=100).json()["jobs"]
        if job["name"].startswith("Host Wang")
    )
    api.update(job_id, {"command_message": "UPDATE_VIDEO"})
    assert api.show(job_id).json()["state"] == "AUTO_VERIFY_FAILED"
    api.command(job_id, "SUBMITVERIFYING")
    again = wait_for_verdict(api, job_id)
    assert again["state"] == "AUTO_VERIFY_FAILED"
    assert again["operation_logs"][-1]["error_code"] == "44005902"

    urls = api.update(job_id, {"command_message": "UPDATE_VIDEO"}).json()
    fresh_front = JPEG + b"new photo"
    assert requests.put(urls["id_card_image1_upload_url"], data=fresh_front, headers=OCTET, timeout=5).ok
    api.command(job_id, "SUBMITVERIFYING")
    fixed = wait_for_verdict(api, job_id)
    assert fixed["state"] == "MANUAL_VERIFY_SUCCESS"
    types = [log["log_type"] for log in fixed["operation_logs"]]
    assert types[-3:] == ["USER_UPDATE_VIDEO", "USER_VERIFYING_SUBMITTED", "SYSTEM_VERIFY_SUCCESS"]


def test_submit_is_refused_while_reviewing_and_hand_moves_cancel_the_review(api: Api) -> None:
    created = api.create({"name": "twice"}).json()
    upload_all(api, created)
    api.command(created["job_id"], "SUBMITVERIFYING")
    second = api.command(created["job_id"], "SUBMITVERIFYING").json()
    assert second["commond_result"] == "EXCUTE_FAILED"
    assert second["error_info"]["error_code"] == "MSS.10002002"
    moved = api.admin(
        "PUT",
        f"/jobs/{created['job_id']}/state",
        json={"state": "MANUAL_VERIFYING", "log_type": "ADMIN_RESET", "log_description": "by hand"},
    )
    assert moved.status_code == 200
    time.sleep(REVIEW_DELAY * 2)
    job = api.show(created["job_id"]).json()
    assert job["state"] == "MANUAL_VERIFYING"
    assert job["operation_logs"][-1]["log_type"] == "ADMIN_RESET"
