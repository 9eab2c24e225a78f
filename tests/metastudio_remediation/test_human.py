"""A person in the loop: the requests, the answers turned into decisions, the plan and report they change."""

from __future__ import annotations

from typing import Any

import pytest

from metastudio_remediation.human import (
    CORRECT,
    FIELDS_PARAM,
    OPTIONS,
    RESUBMIT,
    SKIP,
    decide,
    jobs_needing_a_person,
    jobs_to_remediate,
    person_requests,
    plan_with_answers,
    record_decisions,
)

LOOPED, REFUSED, NO_FIX, FIXABLE = "job-looped", "job-preflight", "job-nofix", "job-fixable"


def plan() -> dict[str, Any]:
    failure = {"reason": "Face not visible for more than 30% of the video", "error_code": "44005902"}
    return {
        "to_fix": [{"job_id": FIXABLE, "state": "AUTO_VERIFY_FAILED", "body": {}, "uploads": [], "upload_count": 0}],
        "needs_person": [
            {"job_id": LOOPED, "state": "AUTO_VERIFY_FAILED", "review_failure": failure, "reason": "rejected 4 times"},
            {
                "job_id": REFUSED,
                "state": "MANUAL_VERIFY_FAILED",
                "review_failure": None,
                "reason": "stopped before upload, would fail review: video is 2 minutes long",
                "findings": [{"asset": "training_video", "rule": "duration", "message": "video is 2 minutes long"}],
            },
        ],
        "skipped": [
            {
                "job_id": NO_FIX,
                "state": "AUTO_VERIFY_FAILED",
                "review_failure": None,
                "reason": "no correction in the manifest",
            },
            {"job_id": "job-training", "state": "TRAINING", "reason": "state TRAINING: only verify-failed jobs"},
        ],
        "failed": [],
        "deferred": [],
    }


def answer(option: str, fields: Any = None, user: str = "ops-li") -> dict[str, Any]:
    return {
        "chosen_options": [option],
        "params_input": {FIELDS_PARAM: fields},
        "responded_at": "2026-12-02T21:00:00+00:00",
        "responded_by_user": {"id": user, "name": user},
    }


def test_one_request_per_job_needing_a_person_with_its_review_failure_and_findings() -> None:
    assert [item["job_id"] for item in jobs_needing_a_person(plan())] == [LOOPED, REFUSED, NO_FIX]
    looped, refused, nofix = person_requests(plan())
    assert looped["subject"] == f"{LOOPED}: rejected 4 times"
    assert "Face not visible for more than 30% of the video (code 44005902)" in looped["body"]
    assert "**Pre-flight findings:**\n- training_video: video is 2 minutes long" in refused["body"]
    assert "Latest review failure:** none recorded" in nofix["body"]
    assert all(option in nofix["body"] for option in OPTIONS)


def test_answers_become_decisions_and_only_valid_fields_are_sent() -> None:
    items = jobs_needing_a_person(plan())
    decisions = decide(items, [answer(RESUBMIT), answer(CORRECT, {"supported_service": ["VIDEO_2D"]}), None])
    assert [d["action"] for d in decisions] == ["resubmit", "correct", "none"]
    assert decisions[1]["body"] == {"supported_service": ["VIDEO_2D"]} and decisions[1]["by"] == "ops-li"
    jobs = jobs_to_remediate(items, decisions)
    assert [(job["job_id"], job["body"], job["uploads"]) for job in jobs] == [
        (LOOPED, {}, []),
        (REFUSED, {"supported_service": ["VIDEO_2D"]}, []),
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"supported_service": ["LIVE_3D"]}, "invalid field supported_service.0: 'LIVE_3D' is not one of"),
        ({"nmae": "x"}, "unknown field(s) nmae; allowed:"),
        ('{"name": ', "not valid JSON"),
        (None, "without any corrected update fields"),
    ],
)
def test_invalid_corrected_fields_are_refused_with_the_reason_and_send_nothing(fields: Any, problem: str) -> None:
    items = jobs_needing_a_person(plan())[:1]
    (decision,) = decide(items, [answer(CORRECT, fields)])
    assert decision["action"] == "refused"
    assert problem in decision["problem"] and decision["problem"].endswith("nothing was sent to MetaStudio")
    assert jobs_to_remediate(items, [decision]) == []


def test_the_plan_and_the_report_record_who_decided_what() -> None:
    items = jobs_needing_a_person(plan())
    decisions = decide(
        items, [answer(RESUBMIT), answer(CORRECT, {"supported_service": ["BAD"]}), answer(SKIP, user="ops-wang")]
    )
    new = plan_with_answers(plan(), decisions)
    assert [item["job_id"] for item in new["to_fix"]] == [FIXABLE, LOOPED]
    assert [(item["job_id"], item["reason"]) for item in new["skipped"]] == [
        ("job-training", "state TRAINING: only verify-failed jobs"),
        (NO_FIX, "skipped by ops-wang (asked in this run)"),
    ]
    (still,) = new["needs_person"]
    assert still["job_id"] == REFUSED
    assert still["reason"].startswith(f"ops-li chose '{CORRECT}' but the corrected update fields were refused: ")
    assert plan_with_answers(plan(), decide(items, [None, None, None])) == plan()

    report = {"jobs": [{"job_id": LOOPED, "status": "resubmitted", "detail": "resubmitted for review"}]}
    (row,) = record_decisions(report, decisions)["jobs"]
    assert row["detail"] == f"ops-li chose '{RESUBMIT}': resubmitted for review"
    assert row["decision"]["option"] == RESUBMIT and row["decision"]["by"] == "ops-li"
