"""Where a task records what MetaStudio has accepted, so a retry resumes instead of redoing.

In a task this is Airflow 3.3's ``task_state_store``: scoped to the task instance (dag, run, task,
map index), kept in the metadata database across retries of that instance. Its ``get``/``set``
are all we use, so tests can pass any object with the same two methods. The provider's upload
operator and the remediation DAG's per-job task both record through it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Checkpoint(Protocol):
    """The part of Airflow's ``TaskStateStoreAccessor`` we rely on."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class MemoryCheckpoint:
    """A checkpoint that lives as long as the process: no crash recovery (tests, or no state store)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


class FirstTryCheckpoint:
    """The state store of a task instance's first try: writes go to it, reads are answered here.

    Nothing can be stored for a task instance before its first try (a cleared task runs again as a
    later try), so asking the API server would only cost a round trip per key.
    """

    def __init__(self, store: Checkpoint) -> None:
        self.store = store
        self.written: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.written.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.store.set(key, value)
        self.written[key] = value


def checkpoint_from(context: Mapping[str, Any]) -> Checkpoint:
    """The task instance's state store, or a memory checkpoint (with a warning) where there is none."""
    store = context.get("task_state_store")
    if store is None:
        log.warning("task_state_store not available: a retry of this task will not know what was already accepted")
        return MemoryCheckpoint()
    return FirstTryCheckpoint(store) if context["ti"].try_number <= 1 else store
