"""The run report: one row per job with the truth about it, and every error exactly once."""

from __future__ import annotations

from metastudio_remediation.report import build_report, render_table

MSS = {
    "error_type": "MetaStudioClientError",
    "operation": "update_training_job",
    "status": 400,
    "error_code": "MSS.00000005",
    "error_msg": "job state does not allow update",
    "request_id": "req-7",
}


def _plan() -> dict:
    def job(job_id: str, uploads: list[tuple[str, int | None]]) -> dict:
        return {
            "job_id": job_id,
            "state": "AUTO_VERIFY_FAILED",
            "review_failure": {"reason": "glare"},
            "body": {},
            "upload_count": len(uploads),
            "uploads": [
                {
                    "asset": a,
                    "part_number": n,
                    "part_count": 2 if n else None,
                    "source": "/f",
                    "offset": 0,
                    "length": 10,
                    "content_type": "application/octet-stream",
                }
                for a, n in uploads
            ],
        }

    return {
        "to_fix": [
            job("ok", [("training_video", 1), ("training_video", 2)]),
            job("upd", [("cover", None)]),
            job("upl", [("cover", None)]),
            job("crash", [("cover", None)]),
        ],
        "skipped": [{"job_id": "skip", "state": "AUTO_VERIFY_FAILED", "reason": "no correction in the manifest"}],
        "failed": [],
        "deferred": [],
    }


def _part(label: str, size: int = 10, **extra) -> dict:
    return {
        "label": label,
        "ok": True,
        "bytes_sent": size,
        "sha256": f"sha-{label}",
        "etag": "e",
        "seconds": 0.5,
        **extra,
    }


def _outcome(job_id: str, map_index: int, uploads: list[dict], **extra) -> dict:
    return {"job_id": job_id, "updates": 1, "uploads": uploads, "commands": [], "task_id": "remediate_job",
            "map_index": map_index, "ok": False, **extra}  # fmt: skip


def test_outcomes_errors_and_unexpected_failures() -> None:
    upload_refused = {**MSS, "operation": "upload", "status": 403, "error_code": "OBS.0403", "error_msg": "used"}
    outcomes = [
        _outcome("ok", 0, [_part("training_video part 1/2"), _part("training_video part 2/2", resumed=True)], ok=True),
        _outcome("upd", 1, [], error=MSS, step="update"),
        _outcome("upl", 2, [{"label": "cover", "ok": False, "error": upload_refused}], step="upload"),
    ]
    reviews = [{"job_id": "ok", "state": "AUTO_VERIFY_FAILED", "review_failure": {"reason": "still blurry"}}]
    failures = [{"task_id": "remediate_job", "map_index": 3, "state": "failed", "job_id": "crash"}]

    report = build_report(plan=_plan(), dry_run=False, outcomes=outcomes, reviews=reviews, task_failures=failures)
    rows = {row["job_id"]: row for row in report["jobs"]}
    assert rows["ok"]["status"] == "rejected_again" and "still blurry" in rows["ok"]["detail"]
    assert rows["ok"]["bytes_uploaded"] == 20
    assert rows["upd"]["status"] == "failed" and rows["upd"]["detail"].startswith("MSS.00000005")
    assert rows["upl"]["status"] == "failed" and "OBS.0403" in rows["upl"]["detail"]
    assert rows["crash"]["status"] == "failed"
    assert rows["skip"]["status"] == "skipped"
    assert [(e["job_id"], e["error_code"], e.get("map_index"), e.get("asset")) for e in report["errors"]] == [
        ("upd", "MSS.00000005", 1, None),
        ("upl", "OBS.0403", 2, "cover"),
        ("crash", None, 3, None),
    ]
    assert report["failed"] and report["totals"] == {"failed": 3, "rejected_again": 1, "skipped": 1}
    table = render_table(report)
    assert "rejected_again" in table and "totals: failed: 3" in table


def test_a_row_per_file_or_part_with_its_bytes_and_checksum() -> None:
    refused = {**MSS, "operation": "upload", "status": 403, "error_code": "OBS.0419", "error_msg": "expired"}
    outcomes = [
        _outcome("ok", 0, [_part("training_video part 1/2", 7), _part("training_video part 2/2", 3, resumed=True)],
                 ok=True),
        _outcome("upl", 2, [{"label": "cover", "ok": False, "error": refused},
                            {"label": "audio", "ok": False, "not_sent": "another part was refused"}], step="upload"),
    ]  # fmt: skip
    report = build_report(plan=_plan(), dry_run=False, outcomes=outcomes)
    assert [(f["job_id"], f["asset"], f["status"], f["bytes"], f["sha256"]) for f in report["files"]] == [
        ("ok", "training_video part 1/2", "uploaded", 7, "sha-training_video part 1/2"),
        ("ok", "training_video part 2/2", "uploaded", 3, "sha-training_video part 2/2"),
        ("upl", "cover", "failed", 0, None),
        ("upl", "audio", "not sent", 0, None),
    ]
    assert [error.get("asset") for error in report["errors"]] == ["cover"]  # the cause, not its consequence
    assert report["files"][1]["detail"] == "accepted in an earlier attempt"
    assert "OBS.0419" in report["files"][2]["detail"]
    assert report["bytes_uploaded"] == 10
    table = render_table(report)
    assert "sha-training_video part 2/2" in table and "OBS.0419: expired" in table


def test_loop_guarded_job_is_alerted_but_does_not_fail_the_run() -> None:
    plan = {
        "to_fix": [],
        "needs_person": [
            {
                "job_id": "loop",
                "state": "AUTO_VERIFY_FAILED",
                "reason": "rejected 4 times",
                "review_failure": {"reason": "blurry", "error_code": "44005901"},
            }
        ],
    }
    report = build_report(plan=plan, dry_run=False)
    assert report["jobs"][0]["status"] == "needs_person" and not report["failed"]
    (error,) = report["errors"]
    assert error["error_type"] == "NeedsPerson" and "blurry" in error["error_msg"] and error["job_id"] == "loop"


def test_dry_run_plans_and_changes_nothing() -> None:
    report = build_report(plan=_plan(), dry_run=True)
    assert {row["status"] for row in report["jobs"]} == {"planned", "skipped"}
    assert not report["failed"] and report["errors"] == []


def test_resubmitted_without_waiting_is_success() -> None:
    plan = _plan()
    plan["to_fix"] = plan["to_fix"][:1]
    parts = [_part(f"training_video part {n}/2", 1) for n in (1, 2)]
    report = build_report(plan=plan, dry_run=False, outcomes=[_outcome("ok", 0, parts, ok=True)])
    assert {row["job_id"]: row["status"] for row in report["jobs"]} == {"ok": "resubmitted", "skip": "skipped"}
    assert not report["failed"]


def test_a_job_whose_task_left_no_outcome_is_not_reported_as_done() -> None:
    plan = _plan()
    report = build_report(plan=plan, dry_run=False, outcomes=[_outcome("ok", 0, [_part("x")], ok=True)])
    rows = {row["job_id"]: row for row in report["jobs"]}
    assert rows["upd"]["status"] == "failed" and "no result" in rows["upd"]["detail"] and report["failed"]
