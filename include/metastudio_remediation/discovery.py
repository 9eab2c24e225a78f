"""Which jobs this run looks at, and the plan for them: the two steps that read MetaStudio before any change.

``find_failed_jobs`` lists the candidates; ``plan_remediation`` reads each one the manifest corrects
(review reason, rejection count) and hands them to the pure planner (:mod:`.planning`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metastudio_provider.exceptions import MetaStudioError, MetaStudioNotFoundError, error_record
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.models import VERIFY_FAILED_STATES
from metastudio_remediation.manifest import Manifest
from metastudio_remediation.planning import job_summary, plan_run


def find_failed_jobs(hook: MetaStudioHook, job_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Jobs to consider: the given ids (whatever their state), else every verify-failed job."""
    wanted = list(dict.fromkeys(job_ids))
    if not wanted:
        jobs = hook.iter_training_jobs(states=sorted(VERIFY_FAILED_STATES))
        return [{"job_id": job.job_id, "name": job.name, "state": job.state} for job in jobs]
    found = []
    for job_id in wanted:
        try:
            job = hook.get_training_job(job_id)
        except MetaStudioNotFoundError:
            found.append({"job_id": job_id, "name": None, "state": "NOT_FOUND"})
            continue
        found.append({"job_id": job.job_id, "name": job.name, "state": job.state})
    return found


def plan_remediation(
    hook: MetaStudioHook, candidates: Iterable[Mapping[str, Any]], manifest: Manifest, **limits: Any
) -> dict[str, list[dict[str, Any]]]:
    """Fetch details (review reason, rejection count) of the jobs the manifest corrects, then plan."""
    detailed = []
    failed = []
    for candidate in candidates:
        if candidate["state"] in VERIFY_FAILED_STATES and candidate["job_id"] in manifest.job_ids:
            try:
                detailed.append(job_summary(hook.get_training_job(candidate["job_id"])))
            except MetaStudioNotFoundError:  # deleted since it was listed: nothing to fix
                detailed.append({**candidate, "state": "NOT_FOUND", "review_failure": None, "rejections": 0})
            except MetaStudioError as exc:  # this job only; the others are still planned
                failed.append({**candidate, "review_failure": None, "error": error_record(exc)})
        else:
            detailed.append({**candidate, "review_failure": None, "rejections": 0})
    plan = plan_run(detailed, manifest, **limits)
    plan["failed"].extend(failed)
    return plan


def plan_for_run(
    hook: MetaStudioHook, candidates: Iterable[Mapping[str, Any]] | None, params: Mapping[str, Any]
) -> dict:
    """The run's plan: its manifest and limits from the trigger form and Variables; ``dry_run`` recorded in it."""
    from airflow.sdk import conf

    from metastudio_remediation import settings
    from metastudio_remediation.manifest import load_manifest

    plan: dict[str, Any] = plan_remediation(
        hook,
        candidates or [],
        load_manifest(settings.manifest_path(params["corrections_path"])),
        max_jobs=params["max_jobs"],
        max_map_length=conf.getint("core", "max_map_length"),
        part_size=settings.part_size(),
        max_rejections=settings.max_rejections(),
    )
    plan["dry_run"] = params["dry_run"]
    return plan


def jobs_to_fix(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What ``remediate_job`` is mapped over: the plan's ``to_fix`` jobs, none in a dry run."""
    return [] if plan["dry_run"] else list(plan["to_fix"])
