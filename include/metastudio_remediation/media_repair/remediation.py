"""The per-job remediation's side of media repair: repair, check again, upload the repaired copy, delete it.

:func:`remediate_with_repairs` is called by :func:`metastudio_remediation.remediate.remediate_job`
for a planned job that carries ``repairs`` (:mod:`.plan_marks`). In a private work area
(:mod:`.workarea`) it repairs each file with :func:`~.repair.repair_file` (which inspects the
result again with the pre-flight rules), re-plans that file's uploads for its new size, runs the
normal remediation on the repaired files, and deletes them whatever happens. The outcome gains
``repairs``: per file, the rule, before and after, and the SHA-256 of the original and of what was sent.

A retry repairs again: the repairs are deterministic (the same input and FFmpeg give the same
bytes), which the SHA-256 recorded in the checkpoint verifies before any part recorded as sent by
an earlier attempt is trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from metastudio_provider.checkpoint import Checkpoint
from metastudio_provider.file_identity import FileIdentity, pinned_source
from metastudio_provider.media import AssetSourceError
from metastudio_remediation.media_repair.errors import RepairRefused
from metastudio_remediation.media_repair.repair import describe, repair_file
from metastudio_remediation.media_repair.sources import name_of, sha256_of
from metastudio_remediation.media_repair.workarea import work_area
from metastudio_remediation.planning import COUNT_FIELDS, MIN_PART_SIZE, MULTIPART_KINDS, part_ranges

log = logging.getLogger(__name__)
CHECKPOINT_KEY = "repair"


def remediate_with_repairs(
    job: Mapping[str, Any], checkpoint: Checkpoint, remediate: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Repair ``job``'s files into a private work area, ``remediate`` the job with them, delete them."""
    job_id = job["job_id"]
    with work_area(job_id) as folder:
        try:
            repaired, records = repair_sources(job, folder)
        except (RepairRefused, AssetSourceError) as exc:
            log.error("Job %s: %s", job_id, exc)
            return _refused(job_id, exc)
        sent = {record["asset"]: record["sent_sha256"] for record in records}
        earlier = checkpoint.get(CHECKPOINT_KEY)
        if earlier and earlier != sent:
            return _refused(
                job_id,
                RepairRefused(
                    f"the repair of job {job_id} gave other bytes than in an earlier attempt, whose parts may "
                    "already be with MetaStudio; nothing more was sent: the next run starts the job afresh"
                ),
            )
        if not earlier:
            checkpoint.set(CHECKPOINT_KEY, sent)
        outcome = remediate(repaired)
    return {**outcome, "repairs": records}


def repair_sources(job: Mapping[str, Any], folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job with each repaired file in ``folder`` instead of the original, and what was done to each."""
    body = dict(job["body"])
    uploads = list(job["uploads"])
    records = []
    for entry in job["repairs"]:
        asset, source = entry["asset"], entry["source"]
        _check_unchanged(asset, uploads)
        dest = folder / f"{asset}.mp4"
        result = repair_file(source, dest, kind=asset, allow=entry["allow"])
        if result.dest is None:  # passes as it is (the file changed since the plan): send the original
            continue
        size = dest.stat().st_size
        original_sha = sha256_of(source)
        record = {
            "asset": asset,
            "file": name_of(source),
            "repairs": list(result.repairs),
            "changes": [dict(change) for change in result.changes],
            "original_sha256": original_sha,
            "original_bytes": result.before.facts.get("size"),
            "sent_sha256": sha256_of(dest),
            "sent_bytes": size,
        }
        log.info(
            "Job %s: repaired %s: %s; sha256 %s -> %s",
            job["job_id"],
            record["file"],
            describe(result.changes),
            original_sha,
            record["sent_sha256"],
        )
        records.append(record)
        uploads, body = _replan(asset, str(dest), size, uploads, body)
    rest = {key: value for key, value in job.items() if key != "repairs"}
    return {**rest, "body": body, "uploads": uploads, "upload_count": len(uploads)}, records


def _replan(
    asset: str, path: str, size: int, uploads: list[dict[str, Any]], body: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The uploads of ``asset`` split again for the repaired file (as many parts as planned, if it can be)."""
    planned = [upload for upload in uploads if upload["asset"] == asset]
    others = [upload for upload in uploads if upload["asset"] != asset]
    template = planned[0]
    if asset in MULTIPART_KINDS:
        count = min(len(planned), max(1, size // MIN_PART_SIZE))
        body = {**body, COUNT_FIELDS[asset]: count}
        ranges = part_ranges(size, count)
    else:
        ranges = [(0, size)]
    fresh = [
        {
            **template,
            "source": path,
            "identity": FileIdentity.of(path).to_dict(),  # the repaired file, pinned as the plan pins originals
            "offset": offset,
            "length": length,
            "part_number": number if asset in MULTIPART_KINDS else None,
            "part_count": len(ranges) if asset in MULTIPART_KINDS else None,
        }
        for number, (offset, length) in enumerate(ranges, start=1)
    ]
    return others + fresh, body


def _check_unchanged(asset: str, uploads: list[dict[str, Any]]) -> None:
    """Raise ``FileIdentityError`` when the original is no longer the file the plan checked (nothing repaired)."""
    identity = next((upload.get("identity") for upload in uploads if upload["asset"] == asset), None)
    if identity:
        pinned_source(identity).stat()


def _refused(job_id: str, exc: Exception) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "ok": False,
        "updates": 0,
        "uploads": [],
        "commands": [],
        "step": "repair",
        "error": {
            "error_type": "RepairRefused",
            "operation": "repair",
            "status": None,
            "error_code": None,
            "error_msg": str(exc),
            "request_id": None,
        },
        "repairs": [],
    }
