"""Which task instances of a run failed, and which job each one served: read from Airflow's task states.

The final task reports a failed task instance that left no outcome of its own (a lost worker, a
failed ``plan``) as an error of the job it served. The tasks it watches are the final task's
upstream tasks, taken from the DAG itself, so a renamed or added task is watched as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def failed_task_instances(
    task_states: Mapping[str, str], job_ids: Mapping[str, Sequence[str]], watched: Iterable[str]
) -> list[dict[str, Any]]:
    """Task instances of ``watched`` tasks that failed, with the job they served.

    ``job_ids`` gives, per mapped task, the job id of each map index (the list it was expanded over).
    ``upstream_failed`` is left out: it is a consequence of a failure already reported.
    """
    failures = []
    watched = set(watched)
    for key, state in task_states.items():
        if state != "failed":
            continue
        task_id, map_index = key, None
        match = re.fullmatch(r"(.+)_(\d+)", key)
        if key not in watched and match and match.group(1) in watched:
            task_id, map_index = match.group(1), int(match.group(2))
        if task_id not in watched:
            continue
        served = job_ids.get(task_id, ())
        job_id = served[map_index] if map_index is not None and map_index < len(served) else None
        failures.append({"task_id": task_id, "map_index": map_index, "state": state, "job_id": job_id})
    return failures


def served_job_id(item: Any) -> str | None:
    """The job a mapped task instance served, from the item it was expanded over.

    A job id (the review sensor), a job (``remediate_job``), or a person request whose subject
    starts with the job id (``ask_a_person``; see :func:`metastudio_remediation.human.person_requests`).
    """
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        if "job_id" in item:
            return item["job_id"]
        if "subject" in item:
            return str(item["subject"]).split(":", 1)[0]
    return None
