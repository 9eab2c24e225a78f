"""Someone changes jobs by hand while the run works on them.

A watcher thread makes each change the moment the sandbox has answered the request that precedes
it, so the race is the same on every run. A job's uploads follow its Update within milliseconds
(same task), so every upload is held 3 s by the sandbox: the changes "after its Update" land
before the upload is handled.

* Teacher: deleted right after the List: the plan's Show gets 404 -> skipped (``state NOT_FOUND``),
  nothing alerted (nothing failed), the other jobs go on.
* Anchor: resubmitted by hand (``MANUAL_VERIFYING``) between the plan's Show and the Update ->
  the Update is refused with ``MSS.10002002``: failed, alerted once.
* Host: resubmitted by hand after its Update, before ``SUBMITVERIFYING`` -> ``EXCUTE_FAILED``
  ``MSS.10002002``: failed, alerted once, never submitted a second time.
* Reporter (given a correction for this test): deleted after its Update -> its upload is refused
  (403 ``OBS.0412``): failed, alerted once.
* Editor (Flexus): a bad manifest entry (a PDF as ID card) -> failed at plan time, alerted once.
"""

from __future__ import annotations

import shutil

import pytest

from tests.reliability.harness import (
    ANCHOR,
    FLEXUS,
    HOST,
    REPORTER,
    TEACHER,
    Rule,
    Watcher,
    answered,
    assert_alerts,
    delete_job,
    fault,
    received,
    rewrite_manifest,
    run_dag,
    set_state,
    state_of,
    submissions,
)

pytestmark = pytest.mark.slow


def test_jobs_changed_by_hand_during_the_run(airflow_env, sandbox, manifest) -> None:
    url = sandbox.url
    assets = manifest.parent / "assets"
    shutil.copy(assets / "teacher-zhao" / "authorization_letter.pdf", assets / "editor-liu" / "id_back.pdf")

    def edit(document: dict) -> None:
        document["jobs"][REPORTER] = {"assets": {"id_card_front": "host-wang/id_front.jpg"}}
        document["jobs"][FLEXUS] = {"assets": {"id_card_back": "editor-liu/id_back.pdf"}}

    rewrite_manifest(manifest, edit)
    by_hand = {"log_type": "USER_VERIFYING_SUBMITTED", "operate_user": "USER"}
    rules = [
        Rule("delete Teacher after the List", answered("GET", "list"), delete_job(url, TEACHER)),
        Rule(
            "resubmit Anchor after its Show",
            answered("GET", "show", ANCHOR),
            set_state(url, ANCHOR, "MANUAL_VERIFYING", **by_hand),
        ),
        Rule(
            "resubmit Host after its Update",
            answered("PUT", "update", HOST),
            set_state(url, HOST, "AUTO_VERIFYING", **by_hand),
        ),
        Rule("delete Reporter after its Update", answered("PUT", "update", REPORTER), delete_job(url, REPORTER)),
    ]
    fault(url, "upload", latency_ms=3000)
    with Watcher(url, rules) as watcher:
        result = run_dag(airflow_env, url, manifest)
    assert all(watcher.fired().values()) and not watcher.errors, (watcher.fired(), watcher.errors)

    assert result.returncode != 0
    statuses = result.statuses()
    assert statuses[TEACHER] == "skipped" and "NOT_FOUND" in result.rows()[TEACHER]["detail"]
    errors = assert_alerts(url, result, failed_jobs={ANCHOR, HOST, REPORTER, FLEXUS})
    by_job = {}
    for error in errors:
        by_job.setdefault(error["job_id"], []).append(error)
    assert [(e["operation"], e["error_code"]) for e in by_job[ANCHOR]] == [("update_training_job", "MSS.10002002")]
    assert [(e["operation"], e["error_code"]) for e in by_job[HOST]] == [
        ("execute_command:SUBMITVERIFYING", "MSS.10002002")
    ]
    assert {(e["operation"], e["error_code"]) for e in by_job[REPORTER]} == {("upload", "OBS.0412")}
    assert [e["error_type"] for e in by_job[FLEXUS]] == ["ManifestError"]
    assert "id_card_back" in by_job[FLEXUS][0]["error_msg"] and "looks like pdf" in by_job[FLEXUS][0]["error_msg"]

    assert state_of(url, TEACHER) == state_of(url, REPORTER) == "DELETED"
    assert state_of(url, ANCHOR) == "MANUAL_VERIFYING" and ("training_video", 1) not in received(url, ANCHOR)
    assert submissions(url, HOST) == 2  # the scenario's and the hand one: the run did not submit again
    assert state_of(url, FLEXUS) == "AUTO_VERIFY_FAILED"
