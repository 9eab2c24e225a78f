"""Typed views: review-failure extraction and progress reporting."""

from __future__ import annotations

import io

from metastudio_provider.hooks.upload import ProgressReporter, SegmentReader
from metastudio_provider.models import TrainingJob, latest_review_failure


def _job(logs: list[dict]) -> TrainingJob:
    return TrainingJob.from_api({"job_id": "j1", "state": "AUTO_VERIFY_FAILED", "operation_logs": logs})


def test_no_failure_logs_means_no_reason() -> None:
    assert (
        latest_review_failure(_job([{"log_type": "USER_CREATE_JOD", "operate_time": "2026-01-01T00:00:00Z"}])) is None
    )


def test_newest_failure_wins_by_time_not_list_order() -> None:
    job = _job(
        [
            {"log_type": "SYSTEM_VERIFY_FAILED", "operate_time": "2026-03-01T00:00:00Z", "log_description": "newest"},
            {"log_type": "SYSTEM_VERIFY_FAILED", "operate_time": "2026-01-01T00:00:00Z", "log_description": "old"},
        ]
    )
    assert latest_review_failure(job).reason == "newest"


def test_other_verify_failed_types_are_a_fallback() -> None:
    job = _job([{"log_type": "SOME_NEW_VERIFY_FAILED", "operate_time": "2026-01-01T00:00:00Z", "error_code": "E1"}])
    assert latest_review_failure(job).error_code == "E1"


def test_unknown_states_and_fields_pass_through() -> None:
    job = TrainingJob.from_api({"job_id": "j", "state": "BRAND_NEW_STATE", "tags": ["a"], "new": 1})
    assert job.state == "BRAND_NEW_STATE" and not job.is_verify_failed and job.extra == {"new": 1}


def test_progress_is_reported_at_most_once_per_interval() -> None:
    events: list[int] = []
    reporter = ProgressReporter(total=10_000, interval=0.0, emit=lambda sent, total, speed: events.append(sent))
    reader = SegmentReader(io.BytesIO(b"x" * 10_000), 10_000, reporter)
    while reader.read(1000):
        pass
    assert events == list(range(1000, 10_000, 1000))  # not for the final chunk: completion is logged once

    quiet: list[int] = []
    reporter = ProgressReporter(total=10_000, interval=3600, emit=lambda *args: quiet.append(1))
    reader = SegmentReader(io.BytesIO(b"x" * 10_000), 10_000, reporter)
    while reader.read(100):
        pass
    assert quiet == [] and reader.bytes_sent == 10_000
