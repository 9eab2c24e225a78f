"""Finishing a run: the report of every job, its files (JSON, Markdown), the run note, one alert, the verdict.

The final task (``alert_and_report``) runs whatever happened upstream (``ALL_DONE``). It gets the
jobs' outcomes and verdicts as XComArgs, reads what could not travel that way (the whole plan,
the person's decisions, the errors of failed tasks; see :mod:`.xcom`), adds every failed task
instance that left no outcome of its own, and then:

1. builds the report (:mod:`.report`), with the person's answers applied (:mod:`.human`);
2. writes it as JSON and Markdown under the report directory and prints both;
3. leaves a digest for the run's note (XCom ``run_note``, set by ``plugins/metastudio_run_note.py``);
4. sends one alert listing every error of the run, if there is any;
5. fails the task (and so the run) if any job failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from metastudio_remediation.human import DECISIONS_KEY, plan_with_answers, record_decisions
from metastudio_remediation.media_repair.reporting import repaired_summary
from metastudio_remediation.report import build_report, render_table
from metastudio_remediation.report_markdown import RUN_NOTE_XCOM_KEY, render_markdown, render_note
from metastudio_remediation.task_states import failed_task_instances, served_job_id
from metastudio_remediation.xcom import PLAN_KEY, listed, pull_one, recorded_failure


def finish_run(
    *,
    ti: Any,
    dag_run: Any,
    dry_run: bool,
    outcomes: Iterable[Any],
    reviews: Any,
    served: Mapping[str, Sequence[Any] | None],
    recorded_by: Mapping[str, str],
    alert_conn_id: str,
) -> dict[str, Any]:
    """Do the five steps above; return the totals and the report's path.

    ``outcomes``: the mapped remediation tasks' return values (one XComArg per task); ``reviews``:
    the review sensor's; ``served``: per mapped task id, the list it was expanded over;
    ``recorded_by``: the task ids that recorded the whole plan (``plan``) and the decisions.
    """
    from airflow.sdk.exceptions import AirflowFailException

    dag_id, run_id = ti.dag_id, dag_run.run_id
    report = collect_report(
        ti, run_id, dry_run, [o for group in outcomes for o in listed(group)], listed(reviews), served, recorded_by
    )
    path = save_report(report, dag_id, run_id)
    ti.xcom_push(key=RUN_NOTE_XCOM_KEY, value=render_note(report, dag_id=dag_id, run_id=run_id))
    if report["errors"]:
        send_alert(report, path, {"ti": ti, "dag_run": dag_run, "run_id": run_id}, alert_conn_id)
    if report["failed"]:
        raise AirflowFailException(f"{report['totals'].get('failed', 0)} job(s) failed; see {path}")
    return {"totals": report["totals"], "report": str(path)}


def collect_report(
    ti: Any,
    run_id: str,
    dry_run: bool,
    outcomes: list[dict[str, Any]],
    reviews: list[dict[str, Any]],
    served: Mapping[str, Sequence[Any] | None],
    recorded_by: Mapping[str, str],
) -> dict[str, Any]:
    """The report: the plan as the answers changed it, every outcome and verdict, every unreported failure.

    A failed task instance that recorded its job's outcome (a job MetaStudio refused) is reported
    through that outcome, once; the others (a lost worker, a failed ``plan``) as task failures.
    The tasks watched are this task's upstream tasks, from the DAG itself.
    """
    plan = pull_one(ti, recorded_by["plan"], key=PLAN_KEY) or {"to_fix": [], "failed": []}
    decisions = pull_one(ti, recorded_by["decisions"], key=DECISIONS_KEY) or []
    reported = {(outcome.get("task_id"), outcome.get("map_index")) for outcome in outcomes}
    job_ids = {task_id: [served_job_id(item) for item in items or []] for task_id, items in served.items()}
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
    watched = ti.task.get_flat_relative_ids(upstream=True)
    failures = [
        {**failure, "error": recorded_failure(ti, failure["task_id"], failure["map_index"])}
        for failure in failed_task_instances(states, job_ids, watched)
        if (failure["task_id"], failure["map_index"]) not in reported
    ]
    report = build_report(
        plan=plan_with_answers(plan, decisions),
        dry_run=dry_run,
        outcomes=outcomes,
        reviews=reviews,
        task_failures=failures,
    )
    return record_decisions(report, decisions)


def save_report(report: Mapping[str, Any], dag_id: str, run_id: str) -> Path:
    """Write the report as JSON and Markdown (printed to the task log as well); return the JSON path."""
    from airflow.sdk import conf

    from metastudio_remediation.settings import report_dir

    path = write_report(report, report_dir(), dag_id, run_id)
    print(render_table(report))
    print(f"Report written to {path}")
    markdown = render_markdown(
        report, dag_id=dag_id, run_id=run_id, base_url=conf.get("api", "base_url", fallback=None)
    )
    path.with_suffix(".md").write_text(markdown)
    print(markdown)
    return path


def send_alert(report: Mapping[str, Any], path: Path, context: Mapping[str, Any], conn_id: str) -> None:
    """One alert for the whole run, listing every error."""
    from metastudio_provider.notifications.webhook import MetaStudioAlertNotifier

    run_id = context["run_id"]
    MetaStudioAlertNotifier(
        webhook_conn_id=conn_id,
        title=alert_title(context["ti"].dag_id, run_id, report),
        errors=report["errors"],
        summary={"totals": report["totals"], "report": str(path), "repaired": repaired_summary(report)},
    ).notify(context)


def write_report(report: Mapping[str, Any], report_dir: str | Path, dag_id: str, run_id: str) -> Path:
    """Save the report as JSON under ``report_dir/dag_id/<run id>.json``."""
    safe_run_id = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    path = Path(report_dir) / dag_id / f"{safe_run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return path


def alert_title(dag_id: str, run_id: str, report: Mapping[str, Any]) -> str:
    failed = report["totals"].get("failed", 0)
    mss = sum(1 for error in report["errors"] if str(error.get("error_code") or "").startswith("MSS."))
    return f"[{dag_id}] {failed} job(s) failed, {len(report['errors'])} error(s) ({mss} MSS.*) in run {run_id}"
