"""The Markdown report: totals, one row per job (attention first), links to failed task logs, the note's limit."""

from __future__ import annotations

from typing import Any

from metastudio_remediation.report_markdown import NOTE_LIMIT, render_markdown, render_note, task_log_url

DAG_ID = "metastudio_training_remediation"
RUN_ID = "manual__2026-12-02T20:39:03.993383+00:00"
BASE = "http://airflow.example:8080"
FLEXUS = "0a11ce0000000000000000000000a008"


def job(job_id: str, status: str, detail: str) -> dict[str, Any]:
    return {"job_id": job_id, "status": status, "detail": detail, "bytes_uploaded": 0, "upload_seconds": 0.0}


def report(extra_jobs: int = 0) -> dict[str, Any]:
    jobs = [
        job("0a11ce0000000000000000000000a001", "resubmitted", "resubmitted for review"),
        job(FLEXUS, "failed", "MSS.00000003: Invalid parameter | supported_service\nonly VIDEO_2D"),
        job("0a11ce0000000000000000000000a004", "skipped", "no correction in the manifest"),
        job("0a11ce0000000000000000000000a005", "needs_person", "loop guard: rejected 3 times"),
    ] + [job(f"job-{i:04d}", "resubmitted", "resubmitted for review") for i in range(extra_jobs)]
    errors = [
        {
            "job_id": FLEXUS,
            "error_code": "MSS.00000003",
            "request_id": "r1",
            "task_id": "remediate_job",
            "map_index": 3,
        },
        {"job_id": "0a11ce0000000000000000000000a005", "task_id": "plan", "map_index": None},
    ]
    totals: dict[str, int] = {}
    for row in jobs:
        totals[row["status"]] = totals.get(row["status"], 0) + 1
    return {"dry_run": False, "jobs": jobs, "errors": errors, "totals": totals, "bytes_uploaded": 3 * 2**20}


def test_whole_report_has_totals_a_row_per_job_attention_first_and_a_link_to_the_failed_log() -> None:
    text = render_markdown(report(), dag_id=DAG_ID, run_id=RUN_ID, base_url=BASE)
    lines = text.splitlines()
    assert lines[0] == (
        "**MetaStudio remediation**: resubmitted 1 · failed 1 · skipped 1 · needs_person 1; 3.0 MiB uploaded"
    )
    assert lines[2] == "| Job | Outcome | Reason | Log |"
    rows = [line for line in lines[4:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [
        FLEXUS,
        "0a11ce0000000000000000000000a005",
        "0a11ce0000000000000000000000a004",
        "0a11ce0000000000000000000000a001",
    ]
    link = f"{BASE}/dags/{DAG_ID}/runs/manual__2026-12-02T20%3A39%3A03.993383%2B00%3A00/tasks/remediate_job/mapped/3"
    # One line per row, pipes escaped, the failed job linked to its task log; no link for other jobs.
    reason = "MSS.00000003: Invalid parameter \\| supported\\_service only VIDEO\\_2D"
    assert rows[0] == f"| `{FLEXUS}` | **failed** | {reason} | [log]({link}) |"
    assert rows[1].endswith("| **needs_person** | loop guard: rejected 3 times |  |")
    assert all(row.count(" | ") == 3 for row in rows)


def test_note_fits_airflows_limit_and_says_how_many_jobs_it_leaves_out() -> None:
    small = render_note(report(), dag_id=DAG_ID, run_id=RUN_ID, base_url=BASE)
    assert small == render_markdown(report(), dag_id=DAG_ID, run_id=RUN_ID, base_url=BASE).rstrip("\n")
    big = report(extra_jobs=40)
    note = render_note(big, dag_id=DAG_ID, run_id=RUN_ID, base_url=BASE)
    assert len(note) <= NOTE_LIMIT < len(render_markdown(big, dag_id=DAG_ID, run_id=RUN_ID, base_url=BASE))
    assert FLEXUS in note  # the failed job is never the one cut
    shown = sum(1 for line in note.splitlines() if line.startswith("| `"))
    assert note.endswith(f"…and {44 - shown} more job(s): see the report task's log.")


def test_task_log_url_of_unmapped_task_and_without_base_url() -> None:
    assert task_log_url(DAG_ID, "r", "plan", None) == f"/dags/{DAG_ID}/runs/r/tasks/plan"
    assert task_log_url(DAG_ID, "r", "plan", -1, "http://h/") == f"http://h/dags/{DAG_ID}/runs/r/tasks/plan"
