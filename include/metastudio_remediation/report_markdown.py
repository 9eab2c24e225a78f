"""The run's report as Markdown, for people: totals, one row per job, links to the failed task logs.

``render_markdown`` gives the whole report (printed in the report task's log and saved beside the
JSON report). ``render_note`` gives a digest that fits Airflow's DAG-run note (1000 characters),
which the UI renders as Markdown at the top of the run's page: the jobs that need attention come
first, and the table is cut, saying how many jobs are left out, when it would not fit. The note's
links are relative, so they work on whatever address the UI is served from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from metastudio_provider.escaping import markdown_cell
from metastudio_provider.models import is_job_id

NOTE_LIMIT = 1000  # characters: Airflow's DagRunNote.content column
# The report task pushes the note under this XCom key; the plugin ``plugins/metastudio_run_note.py``
# sets it as the run's note when the run ends (a task cannot set its own run's note in Airflow 3.3).
RUN_NOTE_XCOM_KEY = "run_note"
# Jobs that need attention first, then the rest; unknown statuses sort last.
ATTENTION = ("failed", "needs_person")  # shown in bold
STATUS_ORDER = ("failed", "needs_person", "deferred", "pending", "updated", "skipped", "planned", "resubmitted")


def render_markdown(report: Mapping[str, Any], *, dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """The whole report: a title line with the totals, then a table of every job."""
    rows = _sorted_rows(report)
    return "\n".join([_title(report), "", *_table(rows, _log_links(report, dag_id, run_id, base_url))]) + "\n"


def render_note(
    report: Mapping[str, Any],
    *,
    dag_id: str,
    run_id: str,
    base_url: str | None = None,
    limit: int = NOTE_LIMIT,
) -> str:
    """A digest of at most ``limit`` characters: totals, then as many job rows as fit."""
    rows = _sorted_rows(report)
    links = _log_links(report, dag_id, run_id, base_url)
    for shown in range(len(rows), -1, -1):
        lines = [_title(report), "", *(_table(rows[:shown], links) if shown else [])]
        if shown < len(rows):
            lines += ["", f"…and {len(rows) - shown} more job(s): see the report task's log."]
        text = "\n".join(lines)
        if len(text) <= limit:
            return text
    return _title(report)[:limit]


def _title(report: Mapping[str, Any]) -> str:
    totals = " · ".join(f"{status} {count}" for status, count in report.get("totals", {}).items()) or "no jobs"
    mode = " (dry run)" if report.get("dry_run") else ""
    mib = report.get("bytes_uploaded", 0) / 2**20
    return f"**MetaStudio remediation{mode}**: {totals}; {mib:.1f} MiB uploaded"


def _sorted_rows(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    def key(row: Mapping[str, Any]) -> tuple[int, str]:
        status = row.get("status", "")
        return (STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER), row["job_id"])

    return sorted(report.get("jobs", []), key=key)


def _table(rows: Sequence[Mapping[str, Any]], links: Mapping[str, str]) -> list[str]:
    with_logs = any(row["job_id"] in links for row in rows)
    header = ["Job", "Outcome", "Reason", *(["Log"] if with_logs else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        status = str(row.get("status", ""))
        shown = status if status in STATUS_ORDER else _cell(status)  # ours, or escaped
        cells = [_job_cell(row["job_id"]), f"**{shown}**" if status in ATTENTION else shown, _cell(row.get("detail"))]
        if with_logs:
            cells.append(f"[log]({links[row['job_id']]})" if row["job_id"] in links else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _cell(value: Any) -> str:
    """Literal text in a cell: one line, no markup, HTML, link or column break (see ``escaping``)."""
    return markdown_cell(value or "")


def _job_cell(job_id: Any) -> str:
    """A job id as code; anything that is not a valid job id (a forged answer) as escaped text."""
    return f"`{job_id}`" if is_job_id(job_id) else _cell(job_id)


def _log_links(report: Mapping[str, Any], dag_id: str, run_id: str, base_url: str | None) -> dict[str, str]:
    """For each failed job, a link to the log of the task instance where it failed (its first error)."""
    links: dict[str, str] = {}
    failed = {row["job_id"] for row in report.get("jobs", []) if row.get("status") == "failed"}
    for error in report.get("errors", []):
        job_id, task_id = error.get("job_id"), error.get("task_id")
        if job_id in failed and task_id and job_id not in links:
            links[job_id] = task_log_url(dag_id, run_id, task_id, error.get("map_index"), base_url)
    return links


def task_log_url(dag_id: str, run_id: str, task_id: str, map_index: int | None, base_url: str | None = None) -> str:
    """The UI page of a task instance (its log is the first tab); relative when no base URL is known."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if map_index is not None and map_index >= 0:
        path += f"/mapped/{map_index}"
    return f"{(base_url or '').rstrip('/')}{path}"
