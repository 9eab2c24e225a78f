"""The sandbox's review (MetaStudio's rules, measured on the reassembled upload) accepts what was repaired.

Each recording fails review as it is, and passes once ``repair_file`` has remuxed, trimmed or
downscaled it: the file checked by the repair is the file the review measures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import REVIEW_DELAY, Api, upload_all

from metastudio_remediation.media_repair import rules
from metastudio_remediation.media_repair.repair import repair_file
from tests.metastudio_remediation.repair_media import make_all
from tests.support.media import SampleMedia


@pytest.fixture(scope="module")
def videos(media: SampleMedia, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(media, tmp_path_factory.mktemp("review-inputs"))


def reviewed(api: Api, video: bytes) -> dict[str, Any]:
    """A new job with valid ID photos and letter and ``video`` (in 2 parts), submitted; its verdict."""
    created = api.create({"name": "repaired", "video_multipart_count": 2}).json()
    upload_all(api, created, video=video)
    api.command(created["job_id"], "SUBMITVERIFYING")
    deadline = time.time() + 60  # the verdict comes after REVIEW_DELAY; the margin is for a loaded machine
    while time.time() < deadline:
        job = api.show(created["job_id"]).json()
        if job["state"] != "AUTO_VERIFYING":
            return job
        time.sleep(REVIEW_DELAY / 4)
    raise AssertionError("no verdict")


@pytest.mark.parametrize(
    ("name", "code_before", "repairs"),
    [
        ("phone.mov", "44005904", ("remux", "trim")),  # not an MP4 (and too long)
        ("long.mp4", "44005912", ("trim",)),  # 10 min 40 s
        ("wide1440.mp4", "44005901", ("downscale",)),  # 2560x1440
        ("portrait1440.mp4", "44005901", ("downscale",)),  # 1440x2560 as displayed
    ],
)
def test_a_repaired_video_passes_review_where_the_original_fails(
    api: Api, videos: dict[str, Path], tmp_path: Path, name: str, code_before: str, repairs: tuple[str, ...]
) -> None:
    before = reviewed(api, videos[name].read_bytes())
    assert before["state"] == "AUTO_VERIFY_FAILED"
    assert before["operation_logs"][-1]["error_code"] == code_before
    result = repair_file(videos[name], tmp_path / "repaired.mp4", allow=rules.REPAIRS)
    assert result.repairs == repairs
    after = reviewed(api, (tmp_path / "repaired.mp4").read_bytes())
    assert after["state"] == "MANUAL_VERIFY_SUCCESS", after["operation_logs"][-1]
