"""Shared pytest fixtures: Airflow connections from env vars, fast retry policies, recorded sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.hooks.retry import RetryPolicy
from tests.support.media import media  # noqa: F401 - registers the session-wide sample media fixture

ACCESS_KEY = "HPUATESTACCESSKEY0001"
SECRET_KEY = "tEsTsEcReTkEy0123456789abcdefGHIJ"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
CONN_ID = "metastudio_test"


class SleepRecorder:
    """Stands in for ``time.sleep`` in retry policies: records the waits, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fast_retry(sleeps: SleepRecorder) -> RetryPolicy:
    return RetryPolicy(retry_limit=3, base_delay=0.01, max_delay=0.05, deadline=30, sleep=sleeps)


ConnFactory = Callable[..., str]


@pytest.fixture
def metastudio_conn(monkeypatch: pytest.MonkeyPatch) -> ConnFactory:
    """Register a ``metastudio`` connection as ``AIRFLOW_CONN_<ID>`` (JSON form) and return its id."""

    def make(
        host: str,
        *,
        conn_id: str = CONN_ID,
        login: str | None = ACCESS_KEY,
        password: str | None = SECRET_KEY,
        **extra: Any,
    ) -> str:
        extra.setdefault("project_id", PROJECT_ID)
        document = {"conn_type": "metastudio", "host": host, "login": login, "password": password, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(document))
        return conn_id

    return make


@pytest.fixture
def make_hook(metastudio_conn: ConnFactory, fast_retry: RetryPolicy) -> Callable[..., MetaStudioHook]:
    """``make_hook(base_url, **extras)`` -> a hook on a fresh connection with a fast retry policy."""

    def make(host: str, *, retry_policy: RetryPolicy | None = None, **conn_kwargs: Any) -> MetaStudioHook:
        conn_id = metastudio_conn(host, **conn_kwargs)
        return MetaStudioHook(conn_id, retry_policy=retry_policy or fast_retry, progress_interval=0.05)

    return make
