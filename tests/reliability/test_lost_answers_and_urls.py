"""Answers lost after the work was done, presigned URLs already used or expired, and the next run.

Run 1: the first Update, the first command and the first upload are handled by MetaStudio but
their answers are lost (``drop_response``). The Update and the command are retried safely (a lost
``SUBMITVERIFYING`` is checked on the job, never sent twice); the retried upload finds its URL
used (403 ``OBS.0410``): that job is reported failed, alerted once, not resubmitted.
Run 2: URLs live 1 s and uploads arrive later: the job fails again with ``OBS.0419``.
Run 3: no faults: the job is fixed (Update issues fresh URLs); every job was submitted exactly once.
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import (
    FIXABLE,
    REPORTER,
    admin,
    assert_alerts,
    assert_fixed,
    assert_not_resubmitted,
    calls,
    clear_alerts,
    fault,
    state_of,
    submissions,
)
from tests.reliability.harness import run_dag as run

pytestmark = pytest.mark.slow


def only_failure(result) -> tuple[str, dict]:
    failed = [job for job, status in result.statuses().items() if status == "failed"]
    assert len(failed) == 1, result.statuses()
    errors = [e for e in result.report["errors"] if e["job_id"] == failed[0]]
    assert errors and len({e["error_code"] for e in errors}) == 1, errors  # one cause (one error per upload)
    return failed[0], errors[0]


def test_lost_answers_used_and_expired_urls_then_the_next_run_fixes(airflow_env, sandbox, manifest) -> None:
    url = sandbox.url
    for operation in ("update", "command", "upload"):
        fault(url, operation, drop_response_next=1)

    first = run(airflow_env, url, manifest)

    assert first.returncode != 0
    job, error = only_failure(first)
    assert (error["operation"], error["status"], error["error_code"]) == ("upload", 403, "OBS.0410")
    assert error["asset"] and error["task_id"] == "upload_asset"
    assert_alerts(url, first, failed_jobs={job})
    assert state_of(url, job) in ("AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED")  # never claimed, never submitted
    assert_not_resubmitted(url, job)
    others = [j for j in FIXABLE if j != job]
    assert_fixed(url, manifest, others)
    assert all(submissions(url, j) == 2 for j in others)  # the scenario's submission + exactly one of ours
    dropped = [c for c in calls(url, "PUT", "update") + calls(url, "POST", "command") if c.get("dropped_status")]
    assert len(dropped) == 2  # the lost Update and command answers really happened

    clear_alerts(url)
    admin(url, "PATCH", "/settings", json={"url_ttl": 1})
    fault(url, "upload", latency_ms=2500)  # every upload arrives after its URL expired
    second = run(airflow_env, url, manifest)

    assert second.returncode != 0
    assert only_failure(second)[0] == job
    assert {e["error_code"] for e in second.report["errors"]} == {"OBS.0419"}
    assert_alerts(url, second, failed_jobs={job})
    assert_not_resubmitted(url, job)

    clear_alerts(url)
    admin(url, "PATCH", "/settings", json={"url_ttl": 86400})
    admin(url, "DELETE", "/faults")
    third = run(airflow_env, url, manifest)

    assert third.returncode == 0, third.output[-4000:]
    assert third.statuses()[job] == "resubmitted"
    assert_alerts(url, third, failed_jobs=())
    assert_fixed(url, manifest)
    assert all(submissions(url, j) == 2 for j in FIXABLE)
    assert_not_resubmitted(url, REPORTER)
