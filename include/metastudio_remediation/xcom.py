"""Read upstream results without failing when a step produced none."""

from __future__ import annotations

from typing import Any


def pull_one(ti: Any, task_id: str) -> Any:
    """The XCom of an unmapped task, or None if it never pushed one (failed or skipped)."""
    return ti.xcom_pull(task_ids=task_id, default=None)


def pull_all(ti: Any, task_id: str) -> list[dict[str, Any]]:
    """Every value pushed by the instances of a mapped task (missing instances are simply absent).

    ``xcom_pull`` returns a bare value when exactly one instance pushed, and None when none did.
    """
    values = ti.xcom_pull(task_ids=task_id, default=None)
    if values is None:
        return []
    if isinstance(values, dict):
        return [values]
    return [value for value in values if isinstance(value, dict)]
