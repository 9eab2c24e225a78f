"""Read upstream results without failing when a step produced none."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FAILURE_KEY = "failure"
PLAN_KEY = "plan"  # the whole plan, pushed by the plan task beside the jobs it returns


def pull_one(ti: Any, task_id: str, key: str = "return_value") -> Any:
    """An XCom of an unmapped task, or None if it never pushed one (failed or skipped)."""
    return ti.xcom_pull(task_ids=task_id, key=key, default=None)


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


@contextmanager
def failures_recorded() -> Iterator[None]:
    """Push the error record of any exception as XCom ``failure`` before it fails the task.

    A failed task leaves no return value; this lets the final report say *why* a step such as
    ``plan`` failed (an unreadable manifest, say), not only that it did.
    """
    try:
        yield
    except Exception as exc:
        from airflow.sdk import get_current_context

        from metastudio_provider.exceptions import error_record

        get_current_context()["ti"].xcom_push(key=FAILURE_KEY, value=error_record(exc))
        raise


def recorded_failure(ti: Any, task_id: str, map_index: int | None) -> dict[str, Any] | None:
    """The error record a failed task pushed with :func:`failures_recorded`, if any."""
    value = ti.xcom_pull(
        task_ids=task_id, key=FAILURE_KEY, map_indexes=map_index if map_index is not None else -1, default=None
    )
    return value if isinstance(value, dict) else None
