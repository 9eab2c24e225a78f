"""Pre-flight end to end: a job whose replacement file would fail review is never touched on MetaStudio.

The sandbox holds the demo scenario plus Presenter Gao (``include/demo/scenario_refused.yaml``),
whose demo manifest entry names a real 2-minute 1920x1080 video, and a twin of that job whose entry
names the same video but skips the duration rule (``preflight: {skip: [video.duration]}``). One
``airflow dags test`` run must leave Presenter Gao exactly as it was (no write request reached it;
same state, operation logs and files), report it as needing a person with the finding and alert
on it, update and resubmit the twin (the override), and fix the other jobs as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.dags.test_remediation_e2e import (
    AK,
    ANCHOR,
    HOST,
    PROJECT,
    PROJECT_ID,
    SK,
    TEACHER,
    admin,
    make_airflow_home,
    run_dag,
    state_of,
    write_manifest,
)

from make_assets import write_refused_assets  # isort: skip - on sys.path through the e2e module

GAO = "0a11ce0000000000000000000000a009"  # demo manifest: a 2-minute training video
TWIN = "0a11ce0000000000000000000000a00a"  # same video, duration rule skipped in the manifest
REFUSED_SCENARIO = PROJECT / "include" / "demo" / "scenario_refused.yaml"
MESSAGE = "presenter-gao/training_video.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_airflow_home(tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    scenario = PROJECT / "include" / "demo" / "scenario.yaml"
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=0.3) as server:
        extra = yaml.safe_load(REFUSED_SCENARIO.read_text())
        (gao,) = extra["jobs"]
        twin = {**gao, "name": "Presenter Gao (duration rule skipped)", "job_id": TWIN}
        response = requests.post(f"{server.url}/_sandbox/scenario", json={"jobs": [gao, twin]}, timeout=10)
        response.raise_for_status()
        yield server


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """The demo manifest (without the Flexus job) on fresh assets, plus the twin that skips the duration rule."""
    path = write_manifest(tmp_path, with_flexus=False)
    document = yaml.safe_load(path.read_text())
    write_refused_assets(Path(document["assets_root"]))
    assert document["jobs"][GAO]["assets"]["training_video"] == "presenter-gao/training_video.mp4"
    document["jobs"][TWIN] = {
        "preflight": {"skip": ["video.duration"]},
        "assets": {"training_video": "presenter-gao/training_video.mp4"},
    }
    path.write_text(yaml.safe_dump(document))
    return path


def snapshot(sandbox: SandboxServer, job_id: str) -> dict[str, Any]:
    """What MetaStudio holds for a job: state, operation logs, fields, files, upload URLs, submissions.

    Download URLs are left out: Show signs them afresh on every call.
    """
    view = admin(sandbox, f"/jobs/{job_id}")
    job = {key: value for key, value in view["job"].items() if not key.endswith("_download_url")}
    return {"job": job, "internal": view["internal"], "files": view["files"], "urls": view["urls"]}


def writes_to(sandbox: SandboxServer, job_id: str) -> list[dict[str, Any]]:
    """Every API request that could change the job (update, command...).

    Upload URLs do not name the job, but only an update of the job issues them: the snapshot's
    ``urls`` and ``files`` show any that were issued or used.
    """
    return [r for r in admin(sandbox, "/requests")["requests"] if job_id in r["path"] and r["method"] != "GET"]


def test_a_job_refused_at_preflight_keeps_its_state_and_the_others_go_ahead(airflow_env, sandbox, manifest) -> None:
    before = snapshot(sandbox, GAO)
    assert before["job"]["state"] == "AUTO_VERIFY_FAILED"

    run = run_dag(airflow_env, sandbox, manifest, {})
    assert run.returncode == 0, run.output[-3000:]  # a job needing a person is alerted, not a failed run

    # Nothing reached Presenter Gao: no update, upload or command; it is exactly as before.
    assert writes_to(sandbox, GAO) == []
    assert snapshot(sandbox, GAO) == before

    rows = {row["job_id"]: row for row in run.report["jobs"]}
    assert rows[GAO]["status"] == "needs_person" and MESSAGE in rows[GAO]["detail"]
    (error,) = [error for error in run.report["errors"] if error["job_id"] == GAO]
    assert (error["error_type"], error["operation"], error["task_id"]) == ("PreflightRefused", "preflight", "plan")
    (finding,) = error["findings"]
    assert finding == {
        "asset": "training_video",
        "file": "presenter-gao/training_video.mp4",
        "rule": "video.duration",
        "message": MESSAGE,
        "measured": "120.0 s",
        "review_code": None,
    }

    # One alert, listing the refused job with its finding (and nothing else went wrong).
    (alert,) = admin(sandbox, "/webhooks/alerts")["calls"]
    assert [e["job_id"] for e in alert["body"]["errors"]] == [GAO]
    assert alert["body"]["errors"][0]["findings"] == [finding]
    assert MESSAGE in alert["body"]["text"]

    # The other jobs of the run went ahead, the twin too: its manifest skips the duration rule.
    for job_id in (ANCHOR, HOST, TEACHER, TWIN):
        assert rows[job_id]["status"] in ("resubmitted", "remediated"), rows[job_id]
        assert writes_to(sandbox, job_id), job_id
    assert ("training_video", 1) in {(f["asset"], f["part"]) for f in admin(sandbox, f"/jobs/{TWIN}")["files"]}
    for job_id in (ANCHOR, HOST, TEACHER):
        assert state_of(sandbox, job_id) in ("AUTO_VERIFYING", "MANUAL_VERIFYING", "MANUAL_VERIFY_SUCCESS")
