"""Media repair inside the remediation, against the sandbox over real HTTP.

A manifest allows ``repair: [remux, trim]``; the replacement video is a 10.5-minute phone
``.mov``. The plan marks its findings repairable, ``remediate_job`` repairs it in a private work
area, uploads the repaired MP4, and the sandbox's review (MetaStudio's rules, measured on the
reassembled upload) passes it. The work area is gone afterwards, also when the attempt fails.
"""

from __future__ import annotations

import hashlib
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from metastudio_provider.checkpoint import MemoryCheckpoint
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_remediation import human
from metastudio_remediation.manifest import load_manifest
from metastudio_remediation.media_repair import remediation as repair_step
from metastudio_remediation.media_repair.person import REPAIR
from metastudio_remediation.media_repair.reporting import repaired_summary
from metastudio_remediation.media_repair.workarea import ROOT_ENV
from metastudio_remediation.planning import plan_run
from metastudio_remediation.remediate import remediate_job
from metastudio_remediation.report import build_report
from metastudio_remediation.report_markdown import render_note
from metastudio_sandbox import samples
from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.support.media import SampleMedia

AK, SK, PROJECT_ID = "REPAIRACCESSKEY00001", "repair-secret-key-0123456789abcdef", "0a11ce0000000000000000000000beef"
JOB = "0a11ce00000000000000000000000c01"


class WorkerLost(Exception):
    """Stands for the worker dying mid-job."""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    history = [
        {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-2d"},
        {"log_type": "SYSTEM_VERIFY_FAILED", "at": "-2d", "asset": "training_video", "log_description": "too long"},
    ]
    job = {
        "name": "c01",
        "job_id": JOB,
        "state": "AUTO_VERIFY_FAILED",
        "create_time": "-3d",
        "assets": {"training_video": "mp4", "id_card_image1": "jpeg", "id_card_image2": "jpeg", "grant_file": "pdf"},
        "history": history,
    }
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"jobs": [job]}))
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=1) as server:
        yield server


@pytest.fixture
def hook(sandbox: SandboxServer, metastudio_conn) -> MetaStudioHook:
    return MetaStudioHook(
        metastudio_conn(sandbox.url, login=AK, password=SK, project_id=PROJECT_ID, retry_delay=0.05, read_timeout=10)
    )


@pytest.fixture
def work_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "work"
    monkeypatch.setenv(ROOT_ENV, str(root))
    return root


@pytest.fixture
def recording(media: SampleMedia, tmp_path: Path) -> Path:
    folder = tmp_path / "assets" / "c01"
    return media.make(folder / "phone.mov", samples.make_recording, seconds=630)


def manifest_file(folder: Path, *, parts: int | None = None, video: str = "c01/phone.mov", **top: Any) -> Path:
    path = folder / "corrections.yaml"
    entry: dict[str, Any] = {"note": "phone recording", "assets": {"training_video": video}}
    if parts:
        entry["update"] = {"video_multipart_count": parts}
    path.write_text(yaml.safe_dump({"version": 1, "assets_root": "assets", **top, "jobs": {JOB: entry}}))
    return path


def candidate() -> dict[str, Any]:
    return {"job_id": JOB, "state": "AUTO_VERIFY_FAILED", "review_failure": {"reason": "too long"}, "rejections": 1}


def sandbox_job(sandbox: SandboxServer) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/jobs/{JOB}", timeout=10).json()


def verdict(sandbox: SandboxServer) -> str:
    deadline = time.time() + 60
    while time.time() < deadline:
        state = sandbox_job(sandbox)["job"]["state"]
        if state != "AUTO_VERIFYING":
            return state
        time.sleep(0.25)
    raise AssertionError("no verdict")


def test_an_allowed_repair_is_made_uploaded_reviewed_and_reported(
    sandbox, hook, recording: Path, work_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = load_manifest(manifest_file(tmp_path, repair=["remux", "trim"]))
    plan = plan_run([candidate()], manifest)
    assert plan["needs_person"] == []
    [job] = plan["to_fix"]
    assert job["repairs"] == [
        {
            "asset": "training_video",
            "source": str(recording),
            "repairs": ["remux", "trim"],
            "allow": ["remux", "trim"],
            "rules": ["video.container", "video.duration"],
        }
    ]
    seen: dict[str, Any] = {}
    real_repair = repair_step.repair_file

    def watching(source: Any, dest: Path, **kwargs: Any) -> Any:
        seen["modes"] = [stat.S_IMODE(dest.parent.stat().st_mode), stat.S_IMODE(dest.parent.parent.stat().st_mode)]
        return real_repair(source, dest, **kwargs)

    monkeypatch.setattr(repair_step, "repair_file", watching)
    outcome = remediate_job(hook, job, MemoryCheckpoint(), concurrency=2)

    assert outcome["ok"] is True, outcome
    assert seen["modes"] == [0o700, 0o700]  # the job's folder and the root: the worker's user only
    assert list(work_root.iterdir()) == []  # the repaired copy is deleted
    [record] = outcome["repairs"]
    assert record["original_sha256"] == hashlib.sha256(recording.read_bytes()).hexdigest()
    assert [(c["rule"], c["before"], c["after"]) for c in record["changes"]] == [
        ("video.container", "QuickTime MOV", "MP4"),
        ("video.duration", "10 min 30 s", "9 min 50 s"),
    ]
    received = {(f["asset"], f["part"]): f for f in sandbox_job(sandbox)["files"]}
    whole = received[("training_video", 0)]  # the parts, reassembled by the sandbox
    assert (whole["sha256"], whole["size"]) == (record["sent_sha256"], record["sent_bytes"])
    assert sum(row["bytes_sent"] for row in outcome["uploads"]) == record["sent_bytes"]
    assert verdict(sandbox) == "MANUAL_VERIFY_SUCCESS"

    report = build_report(plan=plan, dry_run=False, outcomes=[outcome])
    [row] = report["jobs"]
    assert row["detail"] == (
        "resubmitted for review; repaired phone.mov: remux (video.container: QuickTime MOV -> MP4), "
        "trim (video.duration: 10 min 30 s -> 9 min 50 s)"
    )
    assert row["repairs"] == [record]
    assert "repaired phone.mov: remux" in render_note(report, dag_id="d", run_id="r")
    assert repaired_summary(report) == [
        {
            "job_id": JOB,
            "file": "phone.mov",
            "changes": ["video.container: QuickTime MOV -> MP4", "video.duration: 10 min 30 s -> 9 min 50 s"],
            "original_sha256": record["original_sha256"],
            "sent_sha256": record["sent_sha256"],
        }
    ]


def test_a_failed_attempt_leaves_no_copy_and_its_retry_sends_the_same_bytes(
    sandbox, hook, recording: Path, work_root: Path, tmp_path: Path
) -> None:
    manifest = load_manifest(manifest_file(tmp_path, parts=3, repair=["remux", "trim"]))
    [job] = plan_run([candidate()], manifest)["to_fix"]
    checkpoint = MemoryCheckpoint()
    upload = hook.upload_file
    calls = 0

    def dying(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise WorkerLost("upload")
        return upload(*args, **kwargs)

    hook.upload_file = dying
    with pytest.raises(WorkerLost):
        remediate_job(hook, job, checkpoint, concurrency=1)
    assert list(work_root.iterdir()) == []  # deleted on failure too
    first = checkpoint.get("repair")["training_video"]

    (work_root / JOB).mkdir(mode=0o700)  # what a worker killed mid-repair would leave behind
    (work_root / JOB / "training_video.mp4.partial").write_bytes(b"half a face")
    hook.upload_file = upload
    outcome = remediate_job(hook, job, checkpoint, concurrency=1)

    assert outcome["ok"] is True, outcome
    assert outcome["repairs"][0]["sent_sha256"] == first  # repairs are deterministic: the parts sent before fit
    assert any(row.get("resumed") for row in outcome["uploads"])
    assert list(work_root.iterdir()) == []
    assert verdict(sandbox) == "MANUAL_VERIFY_SUCCESS"


def test_without_the_manifest_s_permission_a_person_is_offered_repair_and_resubmit(
    sandbox, hook, media: SampleMedia, work_root: Path, tmp_path: Path
) -> None:
    media.make(tmp_path / "assets" / "c01" / "long.mp4", samples.make_recording, seconds=640, container="mp4")
    plan = plan_run([candidate()], load_manifest(manifest_file(tmp_path, video="c01/long.mp4")))
    assert plan["to_fix"] == []
    [item] = plan["needs_person"]
    assert [(m["rule"], m["repair"]) for m in item["repair_marks"]] == [("video.duration", "trim")]
    assert item["repair_offer"]["repairs"] == ["trim"]
    [request] = human.person_requests(plan)
    assert f"**A machine can repair this:** trim (docs/media.md). Choose **{REPAIR}**" in request["body"]

    answer = {"chosen_options": [REPAIR], "responded_by_user": {"name": "intake"}, "params_input": {}}
    decisions = human.decide(human.jobs_needing_a_person(plan), [answer])
    [job] = human.jobs_to_remediate(human.jobs_needing_a_person(plan), decisions)
    outcome = remediate_job(hook, job, MemoryCheckpoint(), concurrency=2)

    assert outcome["ok"] is True and outcome["repairs"][0]["repairs"] == ["trim"], outcome
    assert verdict(sandbox) == "MANUAL_VERIFY_SUCCESS"
    report = build_report(plan=human.plan_with_answers(plan, decisions), dry_run=False, outcomes=[outcome])
    human.record_decisions(report, decisions)
    assert report["jobs"][0]["detail"].startswith(f"intake chose '{REPAIR}': resubmitted for review; repaired")


def test_repair_and_resubmit_is_refused_when_no_repair_fixes_the_job(media: SampleMedia, tmp_path: Path) -> None:
    media.make(tmp_path / "assets" / "c01" / "phone.mov", samples.make_recording, seconds=120)  # too short
    plan = plan_run([candidate()], load_manifest(manifest_file(tmp_path, repair=["remux", "trim"])))
    [item] = plan["needs_person"]
    assert "repair_offer" not in item
    answer = {"chosen_options": [REPAIR], "responded_by_user": {"name": "intake"}, "params_input": {}}
    [decision] = human.decide([item], [answer])
    assert decision["action"] == "refused"
    assert "video.duration: shorter than 3 minutes: nothing can add recording time" in decision["problem"]
    assert human.jobs_to_remediate([item], [decision]) == []
