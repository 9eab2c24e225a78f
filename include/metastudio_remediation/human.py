"""A person in the loop: what to ask about the jobs the run cannot fix alone, and what the answers do.

In a manual run with ``ask_a_person: true`` each job that needs a person (the loop guard stopped
it, the pre-flight check refused its files, or the manifest has no correction for it) becomes one
mapped Human-in-the-loop request (Airflow's ``HITLOperator``) showing the job, its latest review
failure and the findings. The person picks one option:

* ``Resubmit as is``: the job is sent back to review unchanged (an empty Update, then
  ``SUBMITVERIFYING``, through ``remediate.remediate_job`` like any planned job);
* ``Skip``: nothing is sent; the report says who skipped it;
* ``Apply corrected fields``: the fields typed in the form are checked against the Update schema
  (``metastudio_provider.validation.UPDATE_BODY_SCHEMA``, as the manifest's ``update`` is) and, when
  valid, sent in an Update before the job is resubmitted. Invalid fields send nothing: the job keeps
  needing a person and the report quotes the exact problem.

The answers are applied in the same run and recorded in the report (``record_decisions``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from metastudio_provider.exceptions import MetaStudioValidationError
from metastudio_provider.validation import UPDATE_BODY_SCHEMA, validate_body
from metastudio_remediation.media_repair.person import REPAIR, repair_decision, repair_offer_lines

RESUBMIT = "Resubmit as is"
SKIP = "Skip"
CORRECT = "Apply corrected fields"
OPTIONS = [RESUBMIT, SKIP, CORRECT, REPAIR]  # REPAIR: media repair (issue 19)
FIELDS_PARAM = "corrected_update"
DECISIONS_KEY = "person_decisions"  # XCom of the task that applies the answers, read by the report
NO_CORRECTION = "no correction in the manifest"


def jobs_needing_a_person(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plan's ``needs_person`` jobs, then the skipped ones that only lack a correction; in a fixed order."""
    items = [dict(item) for item in plan.get("needs_person", [])]
    items += [dict(item) for item in plan.get("skipped", []) if item.get("reason") == NO_CORRECTION]
    return items


def person_requests(plan: Mapping[str, Any]) -> list[dict[str, str]]:
    """One HITL request (``subject`` and Markdown ``body``) per job needing a person, in that order."""
    return [{"subject": _subject(item), "body": _body(item)} for item in jobs_needing_a_person(plan)]


def fields_param_schema() -> dict[str, Any]:
    """Keyword arguments of the form's ``Param``: a JSON object (or nothing), checked when applied."""
    fields = ", ".join(sorted(UPDATE_BODY_SCHEMA["properties"]))
    return {
        "type": ["object", "null"],
        "title": "Corrected update fields",
        "description": (
            f"Only with '{CORRECT}': the fields to change, as JSON, e.g. "
            '{"supported_service": ["VIDEO_2D"]}. Checked like the manifest\'s update before anything '
            f"is sent; allowed: {fields}."
        ),
    }


def decide(items: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """One decision per job from its HITL answer (``None``: no answer, e.g. the request failed)."""
    decisions = []
    for item, answer in zip(items, answers, strict=True):
        decision: dict[str, Any] = {"job_id": item["job_id"], "action": "none", "by": None, "option": None}
        if answer:
            option = (answer.get("chosen_options") or [None])[0]
            user = answer.get("responded_by_user") or {}
            decision.update(option=option, by=user.get("name") or user.get("id"), at=_text(answer.get("responded_at")))
            fields = (answer.get("params_input") or {}).get(FIELDS_PARAM)
            if option == RESUBMIT:
                decision.update(action="resubmit", body={})
            elif option == SKIP:
                decision.update(action="skip")
            elif option == CORRECT:
                decision.update(_checked_fields(fields))
            elif option == REPAIR:  # media repair (issue 19)
                decision.update(repair_decision(item))
        decisions.append(decision)
    return decisions


def jobs_to_remediate(items: Sequence[Mapping[str, Any]], decisions: Sequence[Mapping[str, Any]]) -> list[dict]:
    """``to_fix`` entries (for ``remediate.remediate_job``) of the jobs the person sent back to review."""
    by_id = {item["job_id"]: item for item in items}
    jobs = []
    for decision in decisions:
        if decision["action"] == "repair":  # media repair (issue 19): the planned job, its files repaired
            jobs.append(dict(decision["job"]))
        elif decision["action"] in ("resubmit", "correct"):
            item = by_id[decision["job_id"]]
            identity = {key: item.get(key) for key in ("job_id", "state", "review_failure")}
            jobs.append({**identity, "body": dict(decision["body"]), "uploads": [], "upload_count": 0})
    return jobs


def plan_with_answers(plan: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The plan as the answers changed it: sent-back jobs are to fix, skipped ones skipped, refusals explained."""
    decided = {decision["job_id"]: decision for decision in decisions if decision["action"] != "none"}
    if not decided:
        return dict(plan)
    new: dict[str, Any] = {key: list(value) if isinstance(value, list) else value for key, value in plan.items()}
    for bucket in ("needs_person", "skipped"):
        new[bucket] = [item for item in plan.get(bucket, []) if item["job_id"] not in decided]
    items = {item["job_id"]: item for item in jobs_needing_a_person(plan)}
    for job_id, decision in decided.items():
        item = items[job_id]
        if decision["action"] in ("resubmit", "correct", "repair"):
            new["to_fix"] = [*new.get("to_fix", []), {**item, "upload_count": 0}]
        elif decision["action"] == "skip":
            new["skipped"].append({**item, "reason": f"skipped by {decision['by']} (asked in this run)"})
        else:  # refused fields: still needs a person, with the reason
            reason = f"{decision['by']} chose '{decision['option']}' but {decision['problem']}"
            new["needs_person"].append({**item, "reason": reason})
    return new


def record_decisions(report: dict[str, Any], decisions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each answered job's report row gets ``decision`` and a detail that starts with who chose what."""
    decided = {decision["job_id"]: decision for decision in decisions if decision["action"] != "none"}
    for row in report.get("jobs", []):
        decision = decided.get(row["job_id"])
        if decision is None:
            continue
        row["decision"] = {key: decision.get(key) for key in ("option", "by", "at", "body") if key in decision}
        if decision["action"] in ("resubmit", "correct", "repair"):
            fields = f" ({', '.join(sorted(decision['body']))})" if decision["body"] else ""
            row["detail"] = f"{decision['by']} chose '{decision['option']}'{fields}: {row['detail']}"
    return report


def _checked_fields(fields: Any) -> dict[str, Any]:
    if isinstance(fields, str):  # the form's JSON field may arrive as text
        try:
            fields = json.loads(fields)
        except ValueError as exc:
            return _refused(f"the corrected update fields are not valid JSON ({exc.msg} at position {exc.pos})")
    if not fields:
        return _refused(f"'{CORRECT}' was chosen without any corrected update fields")
    try:
        validate_body(fields, UPDATE_BODY_SCHEMA, operation="update_training_job")
    except MetaStudioValidationError as exc:
        return _refused(f"the corrected update fields were refused: {exc}")
    return {"action": "correct", "body": dict(fields)}


def _refused(problem: str) -> dict[str, Any]:
    return {"action": "refused", "problem": f"{problem}; nothing was sent to MetaStudio"}


def _subject(item: Mapping[str, Any]) -> str:
    return f"{item['job_id']}: {_short(item.get('reason') or 'needs a person', 90)}"


def _body(item: Mapping[str, Any]) -> str:
    failure = item.get("review_failure") or {}
    if not isinstance(failure, Mapping):
        failure = {"reason": failure}
    lines = [
        f"**Job** `{item['job_id']}` (state {item.get('state') or 'unknown'})",
        "",
        f"**Why it needs a person:** {item.get('reason') or 'unknown'}",
        "",
        f"**Latest review failure:** {failure.get('reason') or 'none recorded'}"
        + (f" (code {failure['error_code']})" if failure.get("error_code") else ""),
    ]
    findings = item.get("findings") or []
    if findings:
        lines += ["", "**Pre-flight findings:**", *(f"- {_finding(finding)}" for finding in findings)]
    lines += repair_offer_lines(item)  # media repair (issue 19)
    lines += [
        "",
        f"Choose **{RESUBMIT}** to send the job back to review unchanged, **{SKIP}** to leave it, or "
        f"**{CORRECT}** with the fields to change (JSON).",
    ]
    return "\n".join(lines)


def _finding(finding: Mapping[str, Any]) -> str:
    where = finding.get("asset") or finding.get("path") or ""
    return f"{where}: {finding.get('message')}" if where else str(finding.get("message"))


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


def requests_for_run(plan: Mapping[str, Any], params: Mapping[str, Any], run_type: str) -> list[dict[str, str]]:
    """The run's person requests: only in a manual run with ``ask_a_person`` that is not a dry run."""
    if not params["ask_a_person"] or params["dry_run"] or run_type != "manual":
        return []
    return person_requests(plan or {})


def apply_answers(ti: Any, requests: Sequence[Any] | None, *, plan_task_id: str, answers_task_id: str) -> list[dict]:
    """Turn each answer into a decision (recorded as XCom ``person_decisions``); return the jobs sent back.

    The answers are read per map index of ``answers_task_id``: a request that got no answer (it
    failed or timed out) has none, and its job keeps needing a person.
    """
    from metastudio_remediation.xcom import PLAN_KEY, pull_each, pull_one

    if not requests:
        return []
    items = jobs_needing_a_person(pull_one(ti, plan_task_id, key=PLAN_KEY) or {})
    decisions = decide(items, pull_each(ti, answers_task_id, len(items)))
    ti.xcom_push(key=DECISIONS_KEY, value=decisions)
    return jobs_to_remediate(items, decisions)
