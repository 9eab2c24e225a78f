"""Decide what one run does: which jobs to fix, how to split videos, which uploads to map.

Everything here is pure (no API calls) and works on JSON-safe dicts, so each step of the DAG can
hand its result to the next through XCom and the tests can check the decisions directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from metastudio_provider.models import (
    REVIEW_FAILURE_LOG_TYPES,
    VERIFY_FAILED_STATES,
    TrainingJob,
    latest_review_failure,
)
from metastudio_remediation.manifest import MULTIPART_KINDS, Manifest
from metastudio_remediation.media_repair.plan_marks import offer_repair, repairs_cover, with_repairs

MiB = 1024**2
DEFAULT_PART_SIZE = 256 * MiB
MIN_PART_SIZE = 100 * 1024  # OBS: every part but the last is at least 100 KB
MAX_PARTS = 1000  # API limit of video_multipart_count
COUNT_FIELDS = {"training_video": "video_multipart_count", "action_video": "action_video_multipart_count"}


def part_count_for(size: int, part_size: int) -> int:
    """How many parts to split a ``size``-byte video into, within the API and OBS limits."""
    count = max(1, math.ceil(size / part_size))
    count = min(count, MAX_PARTS, max(1, size // MIN_PART_SIZE))
    return count


def part_ranges(size: int, count: int) -> list[tuple[int, int]]:
    """Split ``size`` bytes into ``count`` contiguous ranges; only the last one may be shorter."""
    part = math.ceil(size / count)
    return [(offset, min(part, size - offset)) for offset in range(0, size, part)][:count]


def rejection_count(job: TrainingJob) -> int:
    """How many times review rejected the job, from its operation logs."""
    return sum(1 for log in job.operation_logs if log.log_type in REVIEW_FAILURE_LOG_TYPES)


def job_summary(job: TrainingJob) -> dict[str, Any]:
    failure = latest_review_failure(job)
    return {
        "job_id": job.job_id,
        "name": job.name,
        "state": job.state,
        "review_failure": failure.to_dict() if failure else None,
        "rejections": rejection_count(job),
    }


def plan_run(
    candidates: Iterable[Mapping[str, Any]],
    manifest: Manifest,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    max_jobs: int = 50,
    max_map_length: int = 1024,
    max_rejections: int = 3,
) -> dict[str, list[dict[str, Any]]]:
    """Split ``candidates`` (``job_summary`` dicts) into jobs to fix, skipped, needing a person, failed, deferred.

    A job is fixed only when it is in a verify-failed state and has a usable manifest entry whose
    files pass the pre-flight inspection; a job with a file that would certainly fail review is
    not touched and is reported (and alerted) as needing a person, with every finding. The
    loop guard: a job rejected more than ``max_rejections`` times is not resubmitted again; it
    is reported (and alerted) as needing a person too. Jobs beyond ``max_jobs``, or beyond
    ``max_map_length`` (the run maps one ``remediate_job`` per job), wait for the next run.
    """
    plan: dict[str, list[dict[str, Any]]] = {
        "to_fix": [],
        "skipped": [],
        "needs_person": [],
        "failed": [],
        "deferred": [],
    }
    for job in candidates:
        job_id, state = job["job_id"], job["state"]
        identity = {"job_id": job_id, "state": state, "review_failure": job.get("review_failure")}
        if state not in VERIFY_FAILED_STATES:
            plan["skipped"].append({**identity, "reason": f"state {state}: only verify-failed jobs can be updated"})
        elif job_id in manifest.errors:
            plan["failed"].append({**identity, "error": _manifest_error(manifest.errors[job_id])})
        elif job_id not in manifest.corrections:
            plan["skipped"].append({**identity, "reason": "no correction in the manifest"})
        elif manifest.corrections[job_id].findings and not repairs_cover(manifest.corrections[job_id]):  # media repair
            plan["needs_person"].append(
                offer_repair(  # media repair (issue 19): marks each finding repairable or not
                    preflight_refusal(identity, manifest.corrections[job_id].findings),
                    manifest.corrections[job_id],
                    _job_plan(identity, manifest, part_size),
                )
            )
        elif job.get("rejections", 0) > max_rejections:
            plan["needs_person"].append(
                {**identity, "reason": f"rejected {job['rejections']} times (limit {max_rejections}); needs a person"}
            )
        elif len(plan["to_fix"]) >= max_jobs:
            plan["deferred"].append({**identity, "reason": f"max_jobs={max_jobs} reached; next run"})
        elif len(plan["to_fix"]) >= max_map_length:
            plan["deferred"].append({**identity, "reason": f"max_map_length={max_map_length} reached; next run"})
        else:
            job_plan = _job_plan(identity, manifest, part_size)
            job_plan = with_repairs(job_plan, manifest.corrections[job_id])  # media repair (issue 19)
            plan["failed" if "error" in job_plan else "to_fix"].append(job_plan)
    return plan


def preflight_refusal(identity: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``needs_person`` entry of a job stopped before upload: every finding, and one line saying so."""
    kept = [dict(finding) for finding in findings]
    if len(kept) == 1:
        problems = kept[0]["message"]
    else:
        problems = " ".join(f"({number}) {finding['message']}" for number, finding in enumerate(kept, start=1))
    return {**identity, "reason": f"stopped before upload, would fail review: {problems}", "findings": kept}


def _job_plan(identity: dict[str, Any], manifest: Manifest, part_size: int) -> dict[str, Any]:
    correction = manifest.corrections[identity["job_id"]]
    body = dict(correction.update)
    uploads: list[dict[str, Any]] = []
    for kind, source in correction.assets.items():
        if kind in MULTIPART_KINDS:
            count = body.get(COUNT_FIELDS[kind]) or part_count_for(source.size, part_size)
            if count > 1 and math.ceil(source.size / count) < MIN_PART_SIZE:
                return {
                    **identity,
                    "error": _manifest_error(
                        f"{manifest.path}: job {identity['job_id']}: update.{COUNT_FIELDS[kind]}: {count} parts of a "
                        f"{source.size}-byte file would be smaller than {MIN_PART_SIZE} bytes"
                    ),
                }
            body[COUNT_FIELDS[kind]] = count
            ranges = part_ranges(source.size, count)
        else:
            ranges = [(0, source.size)]
        for number, (offset, length) in enumerate(ranges, start=1):
            uploads.append(
                {
                    "asset": kind,
                    "part_number": number if kind in MULTIPART_KINDS else None,
                    "part_count": len(ranges) if kind in MULTIPART_KINDS else None,
                    "source": source.location,
                    "identity": source.identity,  # what the plan checked; the upload sends only that file
                    "offset": offset,
                    "length": length,
                    "content_type": source.content_type,
                }
            )
    return {**identity, "body": body, "uploads": uploads, "upload_count": len(uploads)}


def _manifest_error(message: str) -> dict[str, Any]:
    return {
        "error_type": "ManifestError",
        "operation": "plan",
        "status": None,
        "error_code": None,
        "error_msg": message,
        "request_id": None,
    }


def upload_tasks(job_plan: Mapping[str, Any], update_result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pair each planned upload with the URL the Update returned for it (raises if one is missing)."""
    targets = {(t["asset"], t.get("part_number")): t for t in update_result.get("upload_targets", [])}
    tasks = []
    for upload in job_plan["uploads"]:
        target = targets.get((upload["asset"], upload["part_number"]))
        if target is None:
            part = f" part {upload['part_number']}" if upload["part_number"] else ""
            raise LookupError(
                f"the update of job {job_plan['job_id']} returned no upload URL for {upload['asset']}{part}"
            )
        label = (
            upload["asset"]
            if upload["part_number"] is None
            else (f"{upload['asset']} part {upload['part_number']}/{upload['part_count']}")
        )
        tasks.append(
            {
                "job_id": job_plan["job_id"],
                "asset_label": label,
                "sealed_url": target["sealed_url"],
                "source": upload["source"],
                "identity": upload.get("identity"),
                "offset": upload["offset"],
                "length": upload["length"],
                "content_type": upload["content_type"],
            }
        )
    return tasks
