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


def _targets(*pairs):
    return [{"asset": a, "part_number": n, "sealed_url": "x"} for a, n in pairs]


def test_outcomes_errors_and_unexpected_failures() -> None:
    updates = [
        {"job_id": "ok", "ok": True, "upload_targets": _targets(("training_video", 1), ("training_video", 2))},
        {"job_id": "upd", "ok": False, "error": MSS, "task_id": "update_job", "map_index": 1},
        {"job_id": "upl", "ok": True, "upload_targets": _targets(("cover", None))},
        {"job_id": "crash", "ok": True, "upload_targets": _targets(("cover", None))},
    ]
    uploads = [
        {"job_id": "ok", "ok": True, "label": "training_video part 1/2", "bytes_sent": 10, "seconds": 0.5},
        {"job_id": "ok", "ok": True, "label": "training_video part 2/2", "bytes_sent": 10, "seconds": 0.5},
        {
            "job_id": "upl",
            "ok": False,
            "label": "cover",
            "task_id": "upload_asset",
            "map_index": 2,
            "error": {**MSS, "operation": "upload", "error_code": "OBS.0403", "error_msg": "used"},
        },
    ]
    finals = [{"job_id": "ok", "ok": True, "commands": ["CONFIRM_MULTIPART_UPLOADED", "SUBMITVERIFYING"]}]
    reviews = [{"job_id": "ok", "state": "AUTO_VERIFY_FAILED", "review_failure": {"reason": "still blurry"}}]
    failures = [{"task_id": "upload_asset", "map_index": 3, "state": "failed", "job_id": "crash"}]

    report = build_report(
        plan=_plan(),
        dry_run=False,
        updates=updates,
        uploads=uploads,
        finals=finals,
        reviews=reviews,
        task_failures=failures,
    )
    rows = {row["job_id"]: row for row in report["jobs"]}
    assert rows["ok"]["status"] == "rejected_again" and "still blurry" in rows["ok"]["detail"]
    assert rows["ok"]["bytes_uploaded"] == 20
    assert rows["upd"]["status"] == "failed" and rows["upd"]["detail"].startswith("MSS.00000005")
    assert rows["upl"]["status"] == "failed" and "OBS.0403" in rows["upl"]["detail"]
    assert rows["crash"]["status"] == "failed"
    assert rows["skip"]["status"] == "skipped"
    assert [(e["job_id"], e["error_code"], e.get("map_index")) for e in report["errors"]] == [
        ("upd", "MSS.00000005", 1),
        ("upl", "OBS.0403", 2),
        ("crash", None, 3),
    ]
    assert report["failed"] and report["totals"] == {"failed": 3, "rejected_again": 1, "skipped": 1}
    table = render_table(report)
    assert "rejected_again" in table and "totals: failed: 3" in table


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
    updates = [{"job_id": "ok", "ok": True, "upload_targets": _targets(("training_video", 1), ("training_video", 2))}]
    uploads = [
        {"job_id": "ok", "ok": True, "label": f"training_video part {n}/2", "bytes_sent": 1, "seconds": 0}
        for n in (1, 2)
    ]
    report = build_report(
        plan=plan, dry_run=False, updates=updates, uploads=uploads, finals=[{"job_id": "ok", "ok": True}]
    )
    assert {row["job_id"]: row["status"] for row in report["jobs"]} == {"ok": "resubmitted", "skip": "skipped"}
    assert not report["failed"]


def test_a_job_with_a_missing_upload_result_is_not_reported_as_done() -> None:
    plan = _plan()
    plan["to_fix"] = plan["to_fix"][:1]
    updates = [{"job_id": "ok", "ok": True, "upload_targets": _targets(("training_video", 1), ("training_video", 2))}]
    uploads = [{"job_id": "ok", "ok": True, "label": "training_video part 1/2", "bytes_sent": 1, "seconds": 0}]
    report = build_report(plan=plan, dry_run=False, updates=updates, uploads=uploads)
    row = next(row for row in report["jobs"] if row["job_id"] == "ok")
    assert row["status"] == "failed" and "part 2/2" in row["detail"] and report["failed"]
