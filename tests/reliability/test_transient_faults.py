"""Transient faults on every operation (list, show, update, command, upload) are absorbed by retries.

One DAG run per fault family: 5xx bursts plus dropped connections (mid-request and mid-upload),
429 throttling with ``Retry-After``, answers later than the read timeout. Each run must end as if
nothing had happened: every job fixed byte-for-byte, no alert, the run green.
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import (
    FIXABLE,
    REPORTER,
    assert_alerts,
    assert_fixed,
    assert_not_resubmitted,
    fault,
    requests_log,
    run_dag,
)

pytestmark = pytest.mark.slow
OPERATIONS = ("list", "show", "update", "command", "upload")


def by_operation(base_url: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {op: [] for op in OPERATIONS}
    for entry in requests_log(base_url):
        if entry["operation"] in grouped:
            grouped[entry["operation"]].append(entry)
    return {op: sorted(entries, key=lambda entry: entry["time"]) for op, entries in grouped.items()}  # arrival


def assert_clean_success(run, sandbox, manifest) -> None:
    assert run.returncode == 0, run.output[-4000:]
    assert_fixed(sandbox.url, manifest)
    assert_not_resubmitted(sandbox.url, REPORTER)
    assert_alerts(sandbox.url, run, failed_jobs=())
    assert {run.statuses()[job] for job in FIXABLE} == {"resubmitted"}


def test_5xx_bursts_and_dropped_connections_on_every_operation(airflow_env, sandbox, manifest) -> None:
    fault(sandbox.url, "list", drop_next=1, error_next=2, error_status=503, error_code="APIGW.0202")
    fault(sandbox.url, "show", drop_next=1, error_next=2, error_status=500, error_code="MSS.10000001")
    fault(sandbox.url, "update", drop_next=1, error_next=2, error_status=502, error_code="APIGW.0201")
    fault(sandbox.url, "command", drop_next=1, error_next=2, error_status=500, error_code="MSS.10000001")
    fault(sandbox.url, "upload", disconnect_next=1, disconnect_after_bytes=4096, error_next=2, error_status=500)

    run = run_dag(airflow_env, sandbox.url, manifest)

    assert_clean_success(run, sandbox, manifest)
    for operation, entries in by_operation(sandbox.url).items():  # every fault was hit, then retried
        statuses = [entry["status"] for entry in entries]
        assert statuses[:3] == [None, *[statuses[1]] * 2] and statuses[1] >= 500, (operation, statuses)
        assert 200 in statuses, (operation, statuses)


def test_429_with_retry_after_on_every_operation(airflow_env, sandbox, manifest) -> None:
    for operation in OPERATIONS:
        fault(sandbox.url, operation, error_next=1, error_status=429, error_code="APIGW.0308", retry_after=2)

    run = run_dag(airflow_env, sandbox.url, manifest)

    assert_clean_success(run, sandbox, manifest)
    for operation, entries in by_operation(sandbox.url).items():
        assert entries[0]["status"] == 429, (operation, entries[:2])
        waited = entries[1]["time"] - entries[0]["time"]
        assert waited >= 1.9, f"{operation}: retried {waited:.2f} s after a 429 with Retry-After: 2"


def test_answers_slower_than_the_read_timeout_on_reads_and_commands(airflow_env, sandbox, manifest) -> None:
    """list, show and command answer after 3 s once each; the client gives up after 1 s and retries."""
    for operation in ("list", "show", "command"):
        fault(sandbox.url, operation, latency_ms=3000, latency_next=1)

    run = run_dag(airflow_env, sandbox.url, manifest, read_timeout=1)

    assert_clean_success(run, sandbox, manifest)
    for operation in ("list", "show", "command"):
        entries = by_operation(sandbox.url)[operation]
        assert entries[1]["time"] - entries[0]["time"] < 3, operation  # retried before the slow answer came
