"""The person in the loop's "Repair and resubmit": offered on a job stopped by findings a machine can repair.

The plan puts the offer on the job (:func:`.plan_marks.offer_repair`: the repairs and the job
ready to run); :mod:`metastudio_remediation.human` shows it, and turns the answer into a decision
with :func:`repair_decision`. The person's choice allows exactly the repairs offered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPAIR = "Repair and resubmit"


def repair_offer_lines(item: Mapping[str, Any]) -> list[str]:
    """Markdown lines for the request's body: what a machine would repair, or nothing."""
    offer = item.get("repair_offer")
    if not offer:  # the option is on every request: say why it does not apply here
        return ["", f"**{REPAIR}** does not apply: no file of this job is one a machine can repair."]
    return [
        "",
        f"**A machine can repair this:** {', '.join(offer['repairs'])} (docs/media.md). Choose **{REPAIR}** "
        "to repair the file, check it again and send the repaired copy.",
    ]


def repair_decision(item: Mapping[str, Any]) -> dict[str, Any]:
    """The decision for "Repair and resubmit": the job to run, or refused when there is nothing a machine can do."""
    offer = item.get("repair_offer")
    if not offer:
        marks = item.get("repair_marks") or []
        why = "; ".join(f"{mark['rule']}: {mark['why']}" for mark in marks if mark.get("repair") is None)
        problem = f"'{REPAIR}' was chosen but no repair fixes this job" + (f" ({why})" if why else "")
        return {"action": "refused", "problem": f"{problem}; nothing was sent to MetaStudio"}
    job = dict(offer["job"])
    return {"action": "repair", "job": job, "body": {}}
