"""Answers lost after the work was done, presigned URLs already used or expired, and the next run.

Run 1: the first Update, the first command and the first upload are handled by MetaStudio but
their answers are lost (``drop_response``). The Update and the command are retried safely (a lost
``SUBMITVERIFYING`` is checked on the job, never sent twice); the retried upload finds its URL
used (403 ``OBS.0410``), so that job gets one more Update (fresh URLs) and sends every part again.
The run ends clean: every job fixed and submitted exactly once, no alert.
Run 2: Anchor failed review again; URLs live 1 s and uploads arrive later, so its URLs expire
(``OBS.0419``), and so do those of its one extra Update: reported failed, alerted once, not
resubmitted. Run 3: no faults: Anchor is fixed.
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import (
    ANCHOR,
    FIXABLE,
    REPORTER,
    admin,
    assert_alerts,
    assert_fixed,
    assert_not_resubmitted,
    calls,
    clear_alerts,
    fault,
    set_state,
    state_of,
    submissions,
)
from tests.reliability.harness import run_dag as run

pytestmark = pytest.mark.slow


def test_lost_answers_used_and_expired_urls_then_the_next_run_fixes(airflow_env, sandbox, manifest) -> None:
    url = sandbox.url
    for operation in ("update", "command", "upload"):
        fault(url, operation, drop_response_next=1)

    first = run(airflow_env, url, manifest)

    assert first.returncode == 0, first.output[-4000:]
    assert_alerts(url, first, failed_jobs=())
    assert_fixed(url, manifest)
    assert all(submissions(url, job) == 2 for job in FIXABLE)  # the scenario's submission + exactly one of ours
    reissued = [job for job, row in first.rows().items() if "OBS.0410" in row["detail"]]
    assert len(reissued) == 1 and first.statuses()[reissued[0]] == "resubmitted", first.rows()
    assert 403 in [c["status"] for c in calls(url, "PUT", "upload")]
    dropped = [c for c in calls(url, "PUT", "update") + calls(url, "POST", "command") if c.get("dropped_status")]
    assert len(dropped) == 2  # the lost Update and command answers really happened
    assert [c for c in calls(url, "PUT", "upload") if c.get("dropped_status")]

    clear_alerts(url)
    set_state(url, ANCHOR, "AUTO_VERIFY_FAILED", log_type="SYSTEM_VERIFY_FAILED", error_code="44005901")()
    admin(url, "PATCH", "/settings", json={"url_ttl": 1})
    fault(url, "upload", latency_ms=2500)  # every upload arrives after its URL expired
    updates_before = len(calls(url, "PUT", "update", ANCHOR))
    second = run(airflow_env, url, manifest)

    assert second.returncode != 0
    assert [job for job, status in second.statuses().items() if status == "failed"] == [ANCHOR]
    assert {e["error_code"] for e in second.report["errors"]} == {"OBS.0419"}
    assert len(calls(url, "PUT", "update", ANCHOR)) - updates_before == 2  # one more Update, then it gave up
    assert_alerts(url, second, failed_jobs={ANCHOR})
    assert state_of(url, ANCHOR) == "AUTO_VERIFY_FAILED"
    assert_not_resubmitted(url, ANCHOR, before=2)

    clear_alerts(url)
    admin(url, "PATCH", "/settings", json={"url_ttl": 86400})
    admin(url, "DELETE", "/faults")
    third = run(airflow_env, url, manifest)

    assert third.returncode == 0, third.output[-4000:]
    assert third.statuses()[ANCHOR] == "resubmitted"
    assert_alerts(url, third, failed_jobs=())
    assert_fixed(url, manifest)
    assert submissions(url, ANCHOR) == 3 and all(submissions(url, j) == 2 for j in FIXABLE if j != ANCHOR)
    assert_not_resubmitted(url, REPORTER)
