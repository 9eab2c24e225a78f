"""Turn every job's outcome into one report: a row per job, a row per file or part, the errors to alert on.

Each remediation task returns a self-describing outcome (job id, ok, its uploads, error), so the
report can be built from whatever reached XCom. A task instance that failed outright leaves no
XCom at all; those are passed in as ``task_failures`` (from the run's task states) and reported
as well.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from metastudio_provider.escaping import log_line
from metastudio_remediation.media_repair.reporting import annotate_row


def build_report(
    *,
    plan: Mapping[str, Sequence[Mapping[str, Any]]],
    dry_run: bool,
    outcomes: Iterable[Mapping[str, Any]] = (),
    reviews: Iterable[Mapping[str, Any]] = (),
    task_failures: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Per-job rows, per-file rows, totals and the error records of the run (JSON-safe).

    ``outcomes`` are :func:`metastudio_remediation.remediate.remediate_job` results, each with the
    ``task_id`` and ``map_index`` of the task instance that produced it.
    """
    rows: dict[str, dict[str, Any]] = {}
    files: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []

    def fail(job_id: str | None, error: Mapping[str, Any], **where: Any) -> None:
        errors.append({"job_id": job_id, **error, **where})
        if job_id in rows and rows[job_id]["status"] != "failed":  # keep the first failure as the detail
            rows[job_id].update(status="failed", detail=_describe(error))

    _apply_plan(rows, errors, plan, dry_run)

    if not dry_run:
        _apply_outcomes(rows, files, fail, outcomes, reviews)
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
        "files": files,
        "totals": dict(sorted(counts.items())),
        "bytes_uploaded": sum(row["bytes_uploaded"] for row in rows.values()),
        "errors": errors,
        # A job needing a person is alerted but is not a failure of this run; anything else is.
        "failed": any(row["status"] == "failed" for row in rows.values())
        or any(error["job_id"] is None for error in errors),
    }


def _apply_plan(
    rows: dict[str, dict[str, Any]],
    errors: list[dict[str, Any]],
    plan: Mapping[str, Sequence[Mapping[str, Any]]],
    dry_run: bool,
) -> None:
    """A row per planned job (its status before any outcome), and the errors the plan itself found."""
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


def _apply_outcomes(rows, files, fail, outcomes, reviews) -> None:
    for outcome in outcomes:
        job_id = outcome["job_id"]
        where = {"task_id": outcome.get("task_id"), "map_index": outcome.get("map_index")}
        row = rows.setdefault(job_id, _row(outcome, "pending", ""))
        for upload in outcome.get("uploads", []):
            files.append(_file_row(job_id, upload))
            if upload.get("ok"):
                row["bytes_uploaded"] += upload.get("bytes_sent", 0)
                row["upload_seconds"] = round(row["upload_seconds"] + upload.get("seconds", 0), 3)
            elif "error" in upload:
                fail(job_id, {**upload["error"], "asset": upload["label"]}, **where)
        note = f" ({outcome['note']})" if outcome.get("note") else ""
        if outcome.get("ok"):
            row.update(status="resubmitted", detail=f"resubmitted for review{note}")
        elif outcome.get("error"):
            fail(job_id, outcome["error"], **where)
        elif row["status"] != "failed":
            row.update(status="failed", detail=f"not every file was accepted{note}")
        annotate_row(row, outcome)  # media repair (issue 19): what was repaired, before and after, SHA-256
    for row in rows.values():
        if row["status"] == "pending":
            row.update(status="failed", detail="its task produced no result")

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


def _file_row(job_id: str, upload: Mapping[str, Any]) -> dict[str, Any]:
    """One file or video part: what was accepted (bytes, SHA-256 of what was sent, ETag) or why not."""
    if upload.get("ok"):
        return {
            "job_id": job_id,
            "asset": upload["label"],
            "status": "uploaded",
            "bytes": upload.get("bytes_sent", 0),
            "sha256": upload.get("sha256"),
            "etag": upload.get("etag"),
            "seconds": upload.get("seconds", 0),
            "detail": "accepted in an earlier attempt" if upload.get("resumed") else "",
        }
    return {
        "job_id": job_id,
        "asset": upload["label"],
        "status": "failed" if "error" in upload else "not sent",
        "bytes": 0,
        "sha256": None,
        "etag": None,
        "seconds": 0,
        "detail": _describe(upload["error"]) if "error" in upload else upload.get("not_sent", ""),
    }


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
    """Fixed-width tables for the task log: the jobs, the totals, then every file or part.

    Text from MetaStudio or the manifest (details, ids) goes through ``escaping.log_line``: a newline
    or an ANSI escape in an error message cannot forge a row or rewrite the terminal.
    """
    jobs = [
        (row["job_id"], row["status"], str(row["bytes_uploaded"]), f"{row['upload_seconds']:.1f}", row["detail"])
        for row in report["jobs"]
    ]
    out = [_table(("job_id", "status", "bytes", "seconds", "detail"), jobs)]
    totals = ", ".join(f"{status}: {count}" for status, count in report["totals"].items()) or "no jobs"
    out.append(f"totals: {totals}; bytes uploaded: {report['bytes_uploaded']}")
    files = [
        (f["job_id"], f["asset"], f["status"], str(f["bytes"]), f["sha256"] or "-", f["detail"])
        for f in report.get("files", [])
    ]
    if files:
        out += ["", _table(("job_id", "file or part", "status", "bytes", "sha256", "detail"), files)]
    return "\n".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns; the last one is not padded. Every cell one line, without control characters."""
    lines = [[log_line(value) for value in row] for row in rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in [header, *lines]
    )
