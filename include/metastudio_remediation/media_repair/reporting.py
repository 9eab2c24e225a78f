"""What the report, the run note and the alert say about repaired files (from the outcomes' ``repairs``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metastudio_remediation.media_repair.repair import describe


def repaired_text(repairs: list[Mapping[str, Any]]) -> str:
    """``repaired training_video.mov: remux (…), trim (…)`` for a report row, the run note and logs."""
    return "; ".join(f"repaired {record['file']}: {describe(record['changes'])}" for record in repairs)


def repaired_summary(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """For the alert: per repaired file, the job, the rules fixed (before -> after) and both SHA-256."""
    return [
        {
            "job_id": row["job_id"],
            "file": record["file"],
            "changes": [f"{c['rule']}: {c['before']} -> {c['after']}" for c in record["changes"]],
            "original_sha256": record["original_sha256"],
            "sent_sha256": record["sent_sha256"],
        }
        for row in report.get("jobs", [])
        for record in row.get("repairs", [])
    ]


def annotate_row(row: dict[str, Any], outcome: Mapping[str, Any]) -> None:
    """A report row of a job whose files were repaired: ``repairs`` and the detail saying what was repaired."""
    if outcome.get("repairs"):
        row["repairs"] = [dict(record) for record in outcome["repairs"]]
        row["detail"] = f"{row['detail']}; {repaired_text(outcome['repairs'])}"
