"""The remediation DAG end to end: ``airflow dags test`` against the sandbox over real HTTP.

Each test starts a sandbox seeded with ``include/demo/scenario.yaml``, writes fresh assets and
a manifest, runs the DAG in a real Airflow (SQLite, migrated once per module), and checks what
the sandbox received and what state the jobs are in, plus the report and the alerts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from metastudio_sandbox.server import SandboxServer, run_in_thread

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "include" / "demo"))
from make_assets import write_assets  # noqa: E402 - demo script, shared with `make demo`

DAG_ID = "metastudio_training_remediation"
AK, SK, PROJECT_ID = "E2EACCESSKEY00000001", "e2e-secret-key-0123456789abcdef", "0a11ce0000000000000000000000beef"
ANCHOR, HOST, TEACHER, REPORTER = (f"0a11ce0000000000000000000000a00{i}" for i in range(1, 5))
FLEXUS = "0a11ce0000000000000000000000a008"  # its correction asks for LIVE_2D: MetaStudio refuses it
AIRFLOW = str(Path(sys.executable).parent / "airflow")

pytestmark = pytest.mark.slow


def make_airflow_home(home: Path) -> dict[str, str]:
    """A migrated Airflow home (SQLite) with the ``metastudio_api`` pool; returns the environment to use it."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "METASTUDIO_REVIEW_POLL_SECONDS": "1",
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([AIRFLOW, "pools", "set", "metastudio_api", "8", "tests"], env=env, check=True, capture_output=True)
    return env


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_airflow_home(tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture
def sandbox() -> SandboxServer:
    scenario = PROJECT / "include" / "demo" / "scenario.yaml"
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=0.3) as server:
        yield server


def write_manifest(tmp_path: Path, *, with_flexus: bool) -> Path:
    """The bundled demo manifest, on fresh assets; optionally without the job MetaStudio refuses."""
    assets = tmp_path / "assets"
    write_assets(assets)
    document = yaml.safe_load((PROJECT / "include" / "corrections" / "corrections.yaml").read_text())
    document["assets_root"] = str(assets)
    if not with_flexus:
        del document["jobs"][FLEXUS]
    path = tmp_path / "corrections.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path, with_flexus=False)


@dataclass
class Run:
    returncode: int
    output: str
    report: dict[str, Any]


def run_dag(env: dict[str, str], sandbox: SandboxServer, manifest: Path, conf: dict[str, Any]) -> Run:
    report_dir = manifest.parent / "reports"
    connection = {
        "conn_type": "metastudio",
        "host": sandbox.url,
        "login": AK,
        "password": SK,
        "extra": {"project_id": PROJECT_ID, "retry_delay": 0.2, "read_timeout": 20},
    }
    run_env = {
        **env,
        "AIRFLOW_CONN_METASTUDIO_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_METASTUDIO_ALERTS": json.dumps(
            {"conn_type": "http", "host": f"{sandbox.url}/_sandbox/webhooks/alerts"}
        ),
        "AIRFLOW_VAR_METASTUDIO_CORRECTIONS_PATH": str(manifest),
        "AIRFLOW_VAR_METASTUDIO_REPORT_DIR": str(report_dir),
    }
    before = set(report_dir.rglob("*.json")) if report_dir.exists() else set()
    done = subprocess.run(
        [AIRFLOW, "dags", "test", DAG_ID, "-c", json.dumps(conf)],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    new_reports = sorted(set(report_dir.rglob("*.json")) - before)
    report = json.loads(new_reports[-1].read_text()) if new_reports else {}
    return Run(done.returncode, done.stdout + done.stderr, report)


def admin(sandbox: SandboxServer, path: str) -> Any:
    response = requests.get(f"{sandbox.url}/_sandbox{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def state_of(sandbox: SandboxServer, job_id: str) -> str:
    return admin(sandbox, f"/jobs/{job_id}")["job"]["state"]


def received(sandbox: SandboxServer, job_id: str) -> dict[tuple[str, int], str]:
    return {(f["asset"], f["part"]): f["sha256"] for f in admin(sandbox, f"/jobs/{job_id}")["files"]}


def sha256(path: Path, offset: int = 0, length: int | None = None) -> str:
    data = path.read_bytes()[offset:]
    return hashlib.sha256(data if length is None else data[:length]).hexdigest()


def calls(sandbox: SandboxServer, method: str, operation: str) -> list[dict[str, Any]]:
    return [r for r in admin(sandbox, "/requests")["requests"] if r["method"] == method and r["operation"] == operation]


def test_remediates_waits_for_review_and_a_second_run_changes_nothing(airflow_env, sandbox, manifest) -> None:
    run = run_dag(airflow_env, sandbox, manifest, {"wait_for_review": True})
    assert run.returncode == 0, run.output[-3000:]

    assets = manifest.parent / "assets"
    video = assets / "anchor-li" / "training_video.mp4"
    anchor_files = received(sandbox, ANCHOR)
    third = video.stat().st_size // 3
    for part in (1, 2, 3):  # each part byte-for-byte, and the assembled video
        assert anchor_files[("training_video", part)] == sha256(video, (part - 1) * third, third)
    assert anchor_files[("training_video", 0)] == sha256(video)
    host_files = received(sandbox, HOST)
    assert host_files[("id_card_image1", 0)] == sha256(assets / "host-wang" / "id_front.jpg")
    assert host_files[("id_card_image2", 0)] == sha256(assets / "host-wang" / "id_back.jpg")
    assert received(sandbox, TEACHER)[("grant_file", 0)] == sha256(assets / "teacher-zhao" / "authorization_letter.pdf")

    for job_id in (ANCHOR, HOST, TEACHER):
        assert state_of(sandbox, job_id) == "MANUAL_VERIFY_SUCCESS"
    assert admin(sandbox, f"/jobs/{TEACHER}")["job"]["name"] == "Teacher Zhao (2026)"
    assert state_of(sandbox, REPORTER) == "AUTO_VERIFY_FAILED"  # no correction: untouched
    assert admin(sandbox, "/webhooks/alerts")["calls"] == []

    rows = {row["job_id"]: row for row in run.report["jobs"]}
    assert {job: rows[job]["status"] for job in rows} == {
        ANCHOR: "remediated",
        HOST: "remediated",
        TEACHER: "remediated",
        REPORTER: "skipped",
        FLEXUS: "skipped",
    }
    uploaded = [p for p in assets.rglob("*") if p.is_file() and p.parent.name != "editor-liu"]
    assert run.report["bytes_uploaded"] == sum(p.stat().st_size for p in uploaded)
    files = {(row["job_id"], row["asset"]): row for row in run.report["files"]}  # a row per file or part

    def size(name: str) -> tuple[str, int]:
        return ("uploaded", (assets / name).stat().st_size)

    assert {key: (row["status"], row["bytes"]) for key, row in files.items()} == {
        **{(ANCHOR, f"training_video part {n}/3"): ("uploaded", third) for n in (1, 2, 3)},
        (HOST, "id_card_front"): size("host-wang/id_front.jpg"),
        (HOST, "id_card_back"): size("host-wang/id_back.jpg"),
        (TEACHER, "authorization_letter"): size("teacher-zhao/authorization_letter.pdf"),
    }
    assert files[(ANCHOR, "training_video part 2/3")]["sha256"] == anchor_files[("training_video", 2)]
    assert files[(HOST, "id_card_back")]["sha256"] == host_files[("id_card_image2", 0)]
    assert "Uploading" in run.output and "totals: remediated: 3, skipped: 2" in run.output

    updates_before = len(calls(sandbox, "PUT", "update"))
    again = run_dag(airflow_env, sandbox, manifest, {})
    assert again.returncode == 0, again.output[-3000:]
    assert len(calls(sandbox, "PUT", "update")) == updates_before  # nothing left to fix
    assert again.report["totals"] == {"skipped": 2}


def test_an_mss_error_is_alerted_once_and_fails_the_run(airflow_env, sandbox, tmp_path) -> None:
    flexus_files = admin(sandbox, f"/jobs/{FLEXUS}")["files"]
    run = run_dag(airflow_env, sandbox, write_manifest(tmp_path, with_flexus=True), {})
    assert run.returncode != 0

    (alert,) = admin(sandbox, "/webhooks/alerts")["calls"]
    body = alert["body"]
    (error,) = body["errors"]
    assert (error["job_id"], error["error_code"], error["operation"]) == (FLEXUS, "MSS.00000003", "update_training_job")
    assert "supported_service" in error["error_msg"] and error["request_id"]
    assert error["task_id"] == "remediate_job" and error["map_index"] is not None
    assert FLEXUS in body["text"] and "MSS.00000003" in body["text"] and body["dag_id"] == DAG_ID

    # The grid tells the truth: the refused job's own instance failed with the error, and was not retried.
    assert f"JobRemediationFailed: job {FLEXUS} failed at update: MSS.00000003" in run.output
    updates = [r for r in admin(sandbox, "/requests")["requests"] if r["operation"] == "update" and FLEXUS in r["path"]]
    assert len(updates) == 1

    assert state_of(sandbox, FLEXUS) == "AUTO_VERIFY_FAILED"  # refused: nothing changed
    assert admin(sandbox, f"/jobs/{FLEXUS}")["files"] == flexus_files  # no upload URL, no byte
    rows = {row["job_id"]: row["status"] for row in run.report["jobs"]}
    assert rows[FLEXUS] == "failed"
    assert {rows[job] for job in (ANCHOR, HOST, TEACHER)} == {"resubmitted"}  # the others were still fixed
    for job in (ANCHOR, HOST, TEACHER):
        assert state_of(sandbox, job) in ("AUTO_VERIFYING", "MANUAL_VERIFY_SUCCESS")


def test_an_injected_server_fault_is_retried_and_nothing_is_lost(airflow_env, sandbox, manifest) -> None:
    fault = {"error_next": 2, "error_status": 503, "error_code": "APIGW.0202", "error_msg": "Service unavailable"}
    requests.put(f"{sandbox.url}/_sandbox/faults/update", json=fault, timeout=10).raise_for_status()
    run = run_dag(airflow_env, sandbox, manifest, {})
    assert run.returncode == 0, run.output[-3000:]
    assert [c["status"] for c in calls(sandbox, "PUT", "update")][:2] == [503, 503]
    assert admin(sandbox, "/webhooks/alerts")["calls"] == []
    assert {row["status"] for row in run.report["jobs"]} == {"resubmitted", "skipped"}


def test_dry_run_and_job_selection_change_nothing_else(airflow_env, sandbox, manifest) -> None:
    dry = run_dag(airflow_env, sandbox, manifest, {"dry_run": True})
    assert dry.returncode == 0, dry.output[-3000:]
    assert calls(sandbox, "PUT", "update") == [] and calls(sandbox, "POST", "command") == []
    assert {row["status"] for row in dry.report["jobs"]} == {"planned", "skipped"}

    one = run_dag(airflow_env, sandbox, manifest, {"job_ids": [HOST, "0a11ce0000000000000000000000ffff"]})
    assert one.returncode == 0, one.output[-3000:]
    assert [call["path"].rsplit("/", 1)[-1] for call in calls(sandbox, "PUT", "update")] == [HOST]
    rows = {row["job_id"]: row for row in one.report["jobs"]}
    assert rows[HOST]["status"] == "resubmitted"
    assert rows["0a11ce0000000000000000000000ffff"]["detail"].startswith("state NOT_FOUND")


def test_an_unusable_manifest_fails_fast_changes_nothing_and_says_why(airflow_env, sandbox, tmp_path) -> None:
    broken = tmp_path / "corrections.yaml"
    broken.write_text(
        "jobs:\n  0a11ce0000000000000000000000a001: {assets: {cover: a.jpg}}\n  0a11ce0000000000000000000000a001: {}\n"
    )
    run = run_dag(airflow_env, sandbox, broken, {})
    assert run.returncode != 0
    assert calls(sandbox, "PUT", "update") == []  # nothing was touched
    (alert,) = admin(sandbox, "/webhooks/alerts")["calls"]
    (error,) = alert["body"]["errors"]
    assert error["error_type"] == "ManifestError" and error["task_id"] == "plan"
    assert "duplicate key" in error["error_msg"] and str(broken) in error["error_msg"]
