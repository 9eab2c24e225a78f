"""Turn every step's outcome into one per-job report and the list of errors to alert on.

Each mapped task returns a self-describing dict (job id, ok, error), so the report can be built
from whatever reached XCom. A task instance that failed outright leaves no XCom at all; those
are passed in as ``task_failures`` (from the run's task states) and reported as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from metastudio_remediation.planning import upload_tasks


def build_report(
    *,
    plan: Mapping[str, Sequence[Mapping[str, Any]]],
    dry_run: bool,
    updates: Iterable[Mapping[str, Any]] = (),
    uploads: Iterable[Mapping[str, Any]] = (),
    finals: Iterable[Mapping[str, Any]] = (),
    reviews: Iterable[Mapping[str, Any]] = (),
    task_failures: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Per-job rows, totals and the error records of the run (JSON-safe)."""
    rows: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []

    def fail(job_id: str | None, error: Mapping[str, Any], **where: Any) -> None:
        errors.append({"job_id": job_id, **error, **where})
        if job_id in rows and rows[job_id]["status"] != "failed":  # keep the first failure as the detail
            rows[job_id].update(status="failed", detail=_describe(error))

    for item in plan.get("skipped", []):
        rows[item["job_id"]] = _row(item, "skipped", item["reason"])
    for item in plan.get("needs_person", []):
        rows[item["job_id"]] = _row(item, "needs_person", item["reason"])
        errors.append(_needs_person_error(item))
    for item in plan.get("deferred", []):
        rows[item["job_id"]] = _row(item, "deferred", item["reason"])
    for item in plan.get("failed", []):
        rows[item["job_id"]] = _row(item, "failed", _describe(item["error"]))
        errors.append({"job_id": item["job_id"], **item["error"], "task_id": "plan", "map_index": None})
    for item in plan.get("to_fix", []):
        detail = f"{item['upload_count']} upload(s) planned"
        rows[item["job_id"]] = _row(item, "planned" if dry_run else "pending", detail)

    if not dry_run:
        _apply_outcomes(plan, rows, fail, updates, uploads, finals, reviews)
    for failure in task_failures:
        generic = {
            "error_type": "TaskFailed",
            "operation": failure["task_id"],
            "status": None,
            "error_code": None,
            "error_msg": f"task {failure['task_id']} ended {failure['state']}",
            "request_id": None,
        }
        fail(
            failure.get("job_id"),
            failure.get("error") or generic,
            task_id=failure["task_id"],
            map_index=failure.get("map_index"),
        )

    counts: dict[str, int] = defaultdict(int)
    for row in rows.values():
        counts[row["status"]] += 1
    return {
        "dry_run": dry_run,
        "jobs": sorted(rows.values(), key=lambda row: (row["status"], row["job_id"])),
        "totals": dict(sorted(counts.items())),
        "bytes_uploaded": sum(row["bytes_uploaded"] for row in rows.values()),
        "errors": errors,
        # A job needing a person is alerted but is not a failure of this run; anything else is.
        "failed": any(row["status"] == "failed" for row in rows.values())
        or any(error["job_id"] is None for error in errors),
    }


def _apply_outcomes(plan, rows, fail, updates, uploads, finals, reviews) -> None:
    plans = {item["job_id"]: item for item in plan.get("to_fix", [])}
    updated: dict[str, Mapping[str, Any]] = {}
    for result in updates:
        job_id = result["job_id"]
        if result.get("ok"):
            updated[job_id] = result
            rows[job_id].update(status="updated", detail="updated; uploads pending")
        else:
            fail(job_id, result["error"], task_id=result.get("task_id"), map_index=result.get("map_index"))

    expected: dict[str, set[str]] = {}
    for job_id, result in updated.items():
        try:
            expected[job_id] = {task["asset_label"] for task in upload_tasks(plans[job_id], result)}
        except LookupError as exc:
            fail(
                job_id,
                {
                    "error_type": "MissingUploadUrl",
                    "operation": "update_training_job",
                    "status": None,
                    "error_code": None,
                    "error_msg": str(exc),
                    "request_id": result.get("request_id"),
                },
                task_id="upload_targets",
                map_index=None,
            )

    received: dict[str, set[str]] = defaultdict(set)
    for result in uploads:
        job_id = result["job_id"]
        if result.get("ok"):
            received[job_id].add(result["label"])
            rows[job_id]["bytes_uploaded"] += result.get("bytes_sent", 0)
            rows[job_id]["upload_seconds"] = round(rows[job_id]["upload_seconds"] + result.get("seconds", 0), 3)
        else:
            fail(
                job_id,
                {**result["error"], "asset": result.get("label")},
                task_id=result.get("task_id"),
                map_index=result.get("map_index"),
            )

    for job_id, labels in expected.items():
        missing = sorted(labels - received[job_id])
        if rows[job_id]["status"] != "failed" and missing:
            rows[job_id].update(status="failed", detail=f"no upload result for {', '.join(missing)}")

    for result in finals:
        job_id = result["job_id"]
        if result.get("ok"):
            note = f" ({result['note']})" if result.get("note") else ""
            rows[job_id].update(status="resubmitted", detail=f"resubmitted for review{note}")
        elif result.get("error"):
            fail(job_id, result["error"], task_id=result.get("task_id"), map_index=result.get("map_index"))
    for row in rows.values():
        if row["status"] == "pending":
            row.update(status="failed", detail="the update produced no result")
        elif row["status"] == "updated":
            row.update(status="failed", detail="uploaded but not resubmitted")

    for review in reviews:
        row = rows.get(review["job_id"])
        if row is None or row["status"] != "resubmitted":
            continue
        failure = review.get("review_failure")
        if review.get("state") in ("AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"):
            reason = (failure or {}).get("reason") or "no reason given"
            row.update(status="rejected_again", detail=f"{review['state']}: {reason}")
        else:
            row.update(status="remediated", detail=f"review passed: {review.get('state')}")


def _needs_person_error(item: Mapping[str, Any]) -> dict[str, Any]:
    """The alert entry of a job put aside for a person: stopped at pre-flight (with its findings) or looping."""
    failure = item.get("review_failure") or {}
    error: dict[str, Any] = {
        "job_id": item["job_id"],
        "error_type": "NeedsPerson",
        "operation": "plan",
        "status": None,
        "error_code": failure.get("error_code"),
        "error_msg": f"{item['reason']}; last review: {failure.get('reason')}",
        "request_id": None,
        "task_id": "plan",
        "map_index": None,
    }
    if item.get("findings"):  # the files would fail review: the findings are the news, not the old verdict
        error.update(error_type="PreflightRefused", operation="preflight", error_code=None, error_msg=item["reason"])
        error["findings"] = [dict(finding) for finding in item["findings"]]
    return error


def _row(item: Mapping[str, Any], status: str, detail: str) -> dict[str, Any]:
    failure = item.get("review_failure") or {}
    return {
        "job_id": item["job_id"],
        "state_before": item.get("state"),
        "review_failure": failure.get("reason"),
        "status": status,
        "detail": detail,
        "bytes_uploaded": 0,
        "upload_seconds": 0.0,
    }


def _describe(error: Mapping[str, Any]) -> str:
    code = error.get("error_code")
    message = error.get("error_msg") or error.get("error_type") or "error"
    return f"{code}: {message}" if code else str(message)


def render_table(report: Mapping[str, Any]) -> str:
    """Fixed-width table of the per-job rows, for the task log."""
    header = ("job_id", "status", "bytes", "seconds", "detail")
    lines = [
        (row["job_id"], row["status"], str(row["bytes_uploaded"]), f"{row['upload_seconds']:.1f}", row["detail"])
        for row in report["jobs"]
    ]
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) if lines else len(header[i]) for i in range(4)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header[:4], widths, strict=True)) + "  " + header[4]]
    out += ["  ".join(v.ljust(w) for v, w in zip(line[:4], widths, strict=True)) + "  " + line[4] for line in lines]
    totals = ", ".join(f"{status}: {count}" for status, count in report["totals"].items()) or "no jobs"
    out.append(f"totals: {totals}; bytes uploaded: {report['bytes_uploaded']}")
    return "\n".join(out)
