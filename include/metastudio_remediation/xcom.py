"""What a task records beside its return value, and how later tasks read it without failing.

Results travel as XComArgs in the DAG file. Three things cannot: the whole plan (``remediate_job``
is mapped over the plan's jobs, and Airflow maps only over a return value, so the rest of the plan
goes under the key ``plan``), the person's decisions (likewise beside the jobs they send back), and
the error of a task that failed (it leaves no return value). Tasks that run whatever happened
upstream (``ALL_DONE``) read them here by key, from the task ids the DAG derives from its XComArgs,
so a missing value is ``None`` instead of a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FAILURE_KEY = "failure"
PLAN_KEY = "plan"  # the whole plan, pushed by the plan task beside the jobs it returns


def pull_one(ti: Any, task_id: str, key: str = "return_value") -> Any:
    """An XCom of an unmapped task, or None if it never pushed one (failed or skipped)."""
    return ti.xcom_pull(task_ids=task_id, key=key, default=None)


def pull_each(ti: Any, task_id: str, count: int) -> list[Any]:
    """The return value of map indexes ``0 .. count-1`` of a mapped task, ``None`` where one has none."""
    return [ti.xcom_pull(task_ids=task_id, map_indexes=index, default=None) for index in range(count)]


def listed(values: Any) -> list[dict[str, Any]]:
    """The dicts among the values of a mapped task's XComArg (``None`` when it never ran)."""
    return [value for value in values or [] if isinstance(value, dict)]


@contextmanager
def failures_recorded(ti: Any) -> Iterator[None]:
    """Push the error record of any exception as XCom ``failure`` before it fails the task.

    A failed task leaves no return value; this lets the final report say *why* a step such as
    ``plan`` failed (an unreadable manifest, say), not only that it did.
    """
    try:
        yield
    except Exception as exc:
        from metastudio_provider.exceptions import error_record

        ti.xcom_push(key=FAILURE_KEY, value=error_record(exc))
        raise


def recorded_failure(ti: Any, task_id: str, map_index: int | None) -> dict[str, Any] | None:
    """The error record a failed task pushed with :func:`failures_recorded`, if any."""
    value = ti.xcom_pull(
        task_ids=task_id, key=FAILURE_KEY, map_indexes=map_index if map_index is not None else -1, default=None
    )
    return value if isinstance(value, dict) else None
