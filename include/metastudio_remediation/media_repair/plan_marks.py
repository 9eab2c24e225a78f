"""The plan's side of media repair: mark each pre-flight finding repairable or not, and plan the repairs.

Pure functions of the manifest's :class:`~metastudio_remediation.manifest.JobCorrection` and the
plan's JSON dicts, called from :func:`metastudio_remediation.planning.plan_run`:

* :func:`repairs_cover`: every finding of the job has a repair, and the manifest allows them all
  (``repair:`` in the job or at the top level): the job is fixed, with its files repaired first;
* :func:`with_repairs`: adds ``repairs`` to a ``to_fix`` entry (which file, which repairs);
* :func:`offer_repair`: on a ``needs_person`` entry, marks each finding (``repair_marks``, in the
  order of ``findings``: the repair that fixes it or ``None``, and why) and, when a machine could
  repair every one but the manifest did not allow it, offers the person "Repair and resubmit"
  with the job ready to run (``repair_offer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metastudio_remediation.media_repair import rules


def repairs_cover(correction: Any) -> bool:
    """True when the manifest allows every repair the job's findings need, and each finding has one."""
    needed, hopeless = rules.repairs_needed(correction.findings)
    return bool(correction.findings) and not hopeless and set(needed) <= set(correction.repair)


def with_repairs(job_plan: dict[str, Any], correction: Any, allow: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``job_plan`` (a ``to_fix`` entry) with ``repairs``: per asset with findings, the file and the repairs to make."""
    if not correction.findings or "error" in job_plan:
        return job_plan
    allowed = tuple(correction.repair if allow is None else allow)
    repairs = []
    for asset in dict.fromkeys(finding["asset"] for finding in correction.findings):
        findings = [dict(finding) for finding in correction.findings if finding["asset"] == asset]
        needed, _ = rules.repairs_needed(findings)
        repairs.append(
            {
                "asset": asset,
                "source": correction.assets[asset].location,
                "repairs": needed,
                "allow": list(allowed),
                "rules": [finding["rule"] for finding in findings],
            }
        )
    return {**job_plan, "repairs": repairs}


def offer_repair(refusal: dict[str, Any], correction: Any, job_plan: Mapping[str, Any]) -> dict[str, Any]:
    """A ``needs_person`` entry whose findings say whether a machine can repair them (and the offer, if so)."""
    findings = refusal.get("findings", [])
    marks = [
        {"asset": finding.get("asset"), "rule": verdict.rule, "repair": verdict.repair, "why": verdict.why}
        for finding, verdict in zip(findings, rules.verdicts(findings), strict=True)
    ]
    entry = {**refusal, "repair_marks": marks}
    needed, hopeless = rules.repairs_needed(findings)
    if findings and not hopeless and "error" not in job_plan:
        entry["repair_offer"] = {
            "repairs": needed,
            "job": with_repairs(dict(job_plan), correction, allow=tuple(needed)),
        }
    return entry
