"""SUBMITVERIFYING -> AUTO_VERIFYING -> a deterministic verdict after the review delay, logged in operation_logs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sandbox_helpers import OCTET, REVIEW_DELAY, Api, upload_all

from metastudio_sandbox import samples
from metastudio_sandbox.review import CODE_VIDEO_DURATION
from tests.support import hostile_media
from tests.support.media import SampleMedia


def wait_for_verdict(api: Api, job_id: str) -> dict[str, Any]:
    deadline = time.time() + 60  # the verdict comes after REVIEW_DELAY; the margin is for a loaded machine
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


def test_remediation_of_a_seeded_failure(api: Api, media: SampleMedia, tmp_path: Path) -> None:
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
    # A new, real photo of the ID card (not the seeded known-bad file).
    fresh_front = media.make(tmp_path / "front.jpg", samples.make_jpeg, width=900, height=568).read_bytes()
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


# --- the review measures the reassembled video like MetaStudio ----------------------------------


def submit_video(api: Api, video: bytes, parts: int = 3) -> dict[str, Any]:
    """A new job with every asset valid except possibly ``video`` (uploaded in ``parts``), reviewed."""
    created = api.create({"name": "measured", "video_multipart_count": parts}).json()
    upload_all(api, created, video=video)
    api.command(created["job_id"], "SUBMITVERIFYING")
    return wait_for_verdict(api, created["job_id"])


def failure_of(job: dict[str, Any]) -> tuple[str, str, str]:
    log = job["operation_logs"][-1]
    return job["state"], log["error_code"], log["log_description"]


def test_a_real_1080p_3_minute_video_split_in_parts_passes(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    video = media.make(tmp_path / "v.mp4", samples.make_video).read_bytes()
    assert submit_video(api, video)["state"] == "MANUAL_VERIFY_SUCCESS"


def test_a_phone_portrait_video_with_a_rotation_matrix_passes(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    video = media.make(tmp_path / "v.mp4", samples.make_video, rotation=90).read_bytes()
    assert submit_video(api, video)["state"] == "MANUAL_VERIFY_SUCCESS"


def test_720p_fails_with_44005901_and_the_measured_size(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    video = media.make(tmp_path / "v.mp4", samples.make_video, width=1280, height=720).read_bytes()
    assert failure_of(submit_video(api, video)) == (
        "AUTO_VERIFY_FAILED",
        "44005901",
        "Video resolution not accepted; only 1920x1080, 1080x1920, 3840x2160 or 2160x3840 are allowed (got 1280x720)",
    )


def test_a_2_minute_video_fails_with_the_duration_code(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    video = media.make(tmp_path / "v.mp4", samples.make_video, seconds=120).read_bytes()
    assert failure_of(submit_video(api, video)) == (
        "AUTO_VERIFY_FAILED",
        CODE_VIDEO_DURATION,
        "Video duration not accepted; it must be 3 to 10 minutes long (got 2 min 0 s)",
    )
    assert CODE_VIDEO_DURATION == "44005912"  # documented in docs/sandbox.md as our assumption


def test_every_broken_rule_is_in_one_log_entry(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    video = media.make(tmp_path / "v.mp4", samples.make_video, width=1280, height=720, seconds=120).read_bytes()
    state, code, description = failure_of(submit_video(api, video, parts=1))
    assert (state, code) == ("AUTO_VERIFY_FAILED", "44005901")
    assert "(got 1280x720)" in description and "(got 2 min 0 s)" in description


# Deliberately NOT a real video: a genuine ftyp box followed by random bytes, no player opens it.
SIGNATURE_ONLY_MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + os.urandom(64 * 1024)


def test_signature_only_and_truncated_videos_fail_as_unplayable(api: Api, media: SampleMedia, tmp_path: Path) -> None:
    """What the sandbox used to accept: ``ftyp`` followed by anything."""
    for video in (
        SIGNATURE_ONLY_MP4,
        samples.truncate(media.make(tmp_path / "v.mp4", samples.make_video), 0.5).read_bytes(),
    ):
        state, code, description = failure_of(submit_video(api, video))
        assert (state, code) == ("AUTO_VERIFY_FAILED", "44005904")
        assert description.startswith("Training video is not a playable MP4 file (training_video: box ")


def test_a_seeded_job_fixed_with_a_720p_video_fails_on_the_measurement(
    api: Api, media: SampleMedia, tmp_path: Path
) -> None:
    """Anchor Li was rejected for 1280x720; a new 720p file is not the known-bad one, yet it is measured."""
    job_id = next(
        job["job_id"]
        for job in api.list(state="AUTO_VERIFY_FAILED", limit=100).json()["jobs"]
        if job["name"].startswith("Anchor Li")
    )
    urls = api.update(job_id, {"command_message": "UPDATE_VIDEO", "video_multipart_count": 1}).json()
    video = media.make(tmp_path / "v.mp4", samples.make_video, width=1280, height=720).read_bytes()
    assert requests.put(urls["training_video_upload_url"][0], data=video, headers=OCTET, timeout=10).ok
    assert api.command(job_id, "CONFIRM_MULTIPART_UPLOADED").json()["commond_result"] == "EXCUTE_SUCCESS"
    api.command(job_id, "SUBMITVERIFYING")
    assert failure_of(wait_for_verdict(api, job_id))[:2] == ("AUTO_VERIFY_FAILED", "44005901")


@pytest.mark.parametrize("empty", [(b"mvhd",), (b"trak", b"tkhd")])
def test_a_video_with_an_empty_box_fails_review_instead_of_crashing_it(
    api: Api, media: SampleMedia, tmp_path: Path, empty: tuple[bytes, ...]
) -> None:
    good = media.make(tmp_path / "v.mp4", samples.make_video)
    broken = hostile_media.empty_box(good, tmp_path / "broken.mp4", *empty).read_bytes()
    state, code, description = failure_of(submit_video(api, broken, parts=1))
    assert (state, code) == ("AUTO_VERIFY_FAILED", "44005904")
    assert f"box {empty[-1].decode()} is 0 bytes" in description


def test_review_of_a_video_the_inspector_cannot_read_is_a_finding(tmp_path: Path) -> None:
    from metastudio_sandbox.review import _video_findings

    (finding,) = _video_findings(tmp_path / "missing.mp4")  # an unreadable file: AssetSourceError inside
    assert finding.error_code == "44005904" and "AssetSourceError" in finding.description
