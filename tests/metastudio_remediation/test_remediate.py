"""One job's remediation against the sandbox over real HTTP: concurrency, resuming, used URLs, one submission.

A retry is a second call of :func:`remediate_job` with the same checkpoint (what Airflow's
``task_state_store`` gives a retried task instance). The first attempt is cut short by an
exception raised where a worker could die: in the middle of the uploads, right after
``SUBMITVERIFYING`` was sent. What each attempt sent is counted at the sandbox.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from metastudio_provider.checkpoint import MemoryCheckpoint, checkpoint_from
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_remediation.remediate import job_label, remediate_job
from metastudio_remediation.uploads import usable_concurrency
from metastudio_sandbox import samples
from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.support.media import SampleMedia

AK, SK, PROJECT_ID = "REMEDIATEACCESSKEY01", "remediate-secret-key-0123456789ab", "0a11ce0000000000000000000000beef"
JOB = "0a11ce00000000000000000000000b01"
PART = 256 * 1024
SUBMIT = "SUBMITVERIFYING"


class WorkerLost(Exception):
    """Stands for the worker dying: not a MetaStudio error, so it fails the attempt."""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    scenario = tmp_path / "scenario.json"
    history = [
        {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-2d"},
        {"log_type": "SYSTEM_VERIFY_FAILED", "at": "-2d", "error_code": "44005901", "log_description": "720p"},
    ]
    job = {"name": "b01", "job_id": JOB, "state": "AUTO_VERIFY_FAILED", "create_time": "-3d", "history": history}
    scenario.write_text(json.dumps({"jobs": [job]}))
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=3600) as server:
        yield server


@pytest.fixture
def hook(sandbox: SandboxServer, metastudio_conn) -> MetaStudioHook:
    return MetaStudioHook(
        metastudio_conn(sandbox.url, login=AK, password=SK, project_id=PROJECT_ID, retry_delay=0.05, read_timeout=10)
    )


@pytest.fixture
def job(tmp_path: Path, media: SampleMedia) -> dict[str, Any]:
    """The plan of the job: a real video (1080p, 3 min) padded to exactly 3 parts, and a real ID card JPEG."""
    recorded = media.make(tmp_path / "recorded.mp4", samples.make_video)
    video = samples.pad_mdat(recorded, 3 * PART, dest=tmp_path / "video.mp4", random_fill=True)  # still plays
    card = media.make(tmp_path / "front.jpg", samples.make_jpeg)
    octet = "application/octet-stream"
    uploads = [
        {"asset": "training_video", "part_number": n, "part_count": 3, "source": str(video),
         "offset": (n - 1) * PART, "length": PART, "content_type": octet}
        for n in (1, 2, 3)
    ] + [{"asset": "id_card_front", "part_number": None, "part_count": None, "source": str(card), "offset": 0,
          "length": card.stat().st_size, "content_type": octet}]  # fmt: skip
    return {"job_id": JOB, "state": "AUTO_VERIFY_FAILED", "body": {"video_multipart_count": 3}, "uploads": uploads}


def admin(sandbox: SandboxServer, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{sandbox.url}/_sandbox{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def log(sandbox: SandboxServer, method: str, operation: str) -> list[dict[str, Any]]:
    entries = admin(sandbox, "GET", "/requests")["requests"]
    return [entry for entry in entries if entry["method"] == method and entry["operation"] == operation]


def accepted_since(sandbox: SandboxServer, moment: float) -> dict[tuple[str, int], int]:
    """(asset, part) -> bytes of every file or video part received after ``moment`` (not the assembled video)."""
    files = admin(sandbox, "GET", f"/jobs/{JOB}")["files"]
    uploaded = [f for f in files if f["part"] >= 1 or f["asset"] != "training_video"]
    return {(f["asset"], f["part"]): f["size"] for f in uploaded if f["received_at"] > moment}


def submissions(sandbox: SandboxServer) -> int:
    logs = admin(sandbox, "GET", f"/jobs/{JOB}")["job"]["operation_logs"]
    return sum(1 for entry in logs if entry["log_type"] == "USER_VERIFYING_SUBMITTED")


def state(sandbox: SandboxServer) -> str:
    return admin(sandbox, "GET", f"/jobs/{JOB}")["job"]["state"]


def fail_on(hook: MetaStudioHook, method: str, when) -> None:
    """Make ``hook.<method>`` raise :class:`WorkerLost` before (or after) the calls ``when`` picks."""
    real = getattr(hook, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        moment = when(*args, **kwargs)
        if moment == "before":
            raise WorkerLost(method)
        result = real(*args, **kwargs)
        if moment == "after":
            raise WorkerLost(method)
        return result

    setattr(hook, method, wrapper)


def test_fixes_the_job_with_its_parts_in_flight_together(sandbox, hook, job) -> None:
    admin(sandbox, "PUT", "/faults/upload", json={"latency_ms": 1500})  # every part takes 1.5 s or more
    in_flight, most = 0, 0
    lock = threading.Lock()
    upload = hook.upload_file

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            return upload(*args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    hook.upload_file = counting
    outcome = remediate_job(hook, job, MemoryCheckpoint(), concurrency=3)

    assert outcome["ok"] is True and outcome["updates"] == 1, outcome
    assert most == 3  # three at a time, never more
    assert outcome["commands"] == ["CONFIRM_MULTIPART_UPLOADED", SUBMIT]
    assert [row["label"] for row in outcome["uploads"]] == [
        "training_video part 1/3", "training_video part 2/3", "training_video part 3/3", "id_card_front",
    ]  # fmt: skip
    files = {(f["asset"], f["part"]): f for f in admin(sandbox, "GET", f"/jobs/{JOB}")["files"]}
    where = [("training_video", 1), ("training_video", 2), ("training_video", 3), ("id_card_image1", 0)]
    for row, key in zip(outcome["uploads"], where, strict=True):
        assert (row["bytes_sent"], row["sha256"]) == (files[key]["size"], files[key]["sha256"])
    assert state(sandbox) == "AUTO_VERIFYING" and submissions(sandbox) == 2  # the scenario's and ours
    assert "sealed_url" not in json.dumps(outcome) and "Signature" not in json.dumps(outcome)


def test_a_retry_sends_only_the_parts_the_sandbox_has_not_accepted(sandbox, hook, job, metastudio_conn) -> None:
    checkpoint = MemoryCheckpoint()
    fail_on(hook, "upload_file", lambda url, source, **kw: "before" if kw["asset"] == "training_video part 3/3" else 0)
    with pytest.raises(WorkerLost):  # one part at a time: parts 1 and 2 accepted, then the worker is lost
        remediate_job(hook, job, checkpoint, concurrency=1)
    assert set(accepted_since(sandbox, 0)) >= {("training_video", 1), ("training_video", 2)}
    puts_before, mark = len(log(sandbox, "PUT", "upload")), time.time()

    retry_hook = MetaStudioHook(hook.metastudio_conn_id)
    outcome = remediate_job(retry_hook, job, checkpoint, concurrency=4)

    assert outcome["ok"] is True and outcome["updates"] == 1, outcome  # the same URLs: no second Update
    assert len(log(sandbox, "PUT", "update")) == 1
    resent = log(sandbox, "PUT", "upload")[puts_before:]
    assert len(resent) == 2 and all(entry["status"] == 200 for entry in resent)
    card = job["uploads"][3]["length"]  # the JPEG's size, read from the file
    assert accepted_since(sandbox, mark) == {("training_video", 3): PART, ("id_card_image1", 0): card}
    resumed = {row["label"]: row.get("resumed", False) for row in outcome["uploads"]}
    assert resumed == {
        "training_video part 1/3": True, "training_video part 2/3": True,
        "training_video part 3/3": False, "id_card_front": False,
    }  # fmt: skip
    assert state(sandbox) == "AUTO_VERIFYING" and submissions(sandbox) == 2


def test_a_used_url_gets_one_more_update_and_every_part_is_sent_again(sandbox, hook, job) -> None:
    admin(sandbox, "PUT", "/faults/upload", json={"drop_response_next": 1})  # accepted, answer lost

    outcome = remediate_job(hook, job, MemoryCheckpoint(), concurrency=1)

    assert outcome["ok"] is True and outcome["updates"] == 2, outcome
    assert "OBS.0410" in outcome["note"]
    statuses = [entry["status"] for entry in log(sandbox, "PUT", "upload")]
    assert statuses == [None, 403, 200, 200, 200, 200]  # lost answer, used URL, then all four again
    assert all(not row.get("resumed") for row in outcome["uploads"])
    assert submissions(sandbox) == 2


def test_expired_urls_fail_the_job_after_the_second_update_and_nothing_is_submitted(sandbox, hook, job) -> None:
    admin(sandbox, "PATCH", "/settings", json={"url_ttl": 1})
    admin(sandbox, "PUT", "/faults/upload", json={"latency_ms": 2500})

    outcome = remediate_job(hook, job, MemoryCheckpoint(), concurrency=4)

    assert outcome["ok"] is False and outcome["updates"] == 2 and outcome["step"] == "upload", outcome
    assert {row["error"]["error_code"] for row in outcome["uploads"]} == {"OBS.0419"}
    assert len(log(sandbox, "PUT", "update")) == 2
    assert log(sandbox, "POST", "command") == [] and state(sandbox) == "AUTO_VERIFY_FAILED"


def test_submitverifying_sent_by_a_lost_attempt_is_not_sent_again(sandbox, hook, job) -> None:
    checkpoint = MemoryCheckpoint()
    fail_on(hook, "execute_command", lambda job_id, command, **kw: "after" if command == SUBMIT else 0)
    with pytest.raises(WorkerLost):  # SUBMITVERIFYING reached the job; the worker died before recording it
        remediate_job(hook, job, checkpoint)
    puts = len(log(sandbox, "PUT", "upload"))

    outcome = remediate_job(MetaStudioHook(hook.metastudio_conn_id), job, checkpoint)

    assert outcome["ok"] is True and "not sent again" in outcome["note"], outcome
    assert submissions(sandbox) == 2 and state(sandbox) == "AUTO_VERIFYING"
    assert len(log(sandbox, "PUT", "upload")) == puts and len(log(sandbox, "PUT", "update")) == 1


def test_a_retry_after_the_end_only_reads_the_job(sandbox, hook, job) -> None:
    checkpoint = MemoryCheckpoint()
    first = remediate_job(hook, job, checkpoint)
    calls = len(admin(sandbox, "GET", "/requests")["requests"])
    again = remediate_job(hook, job, checkpoint)
    assert first["ok"] is True and again["ok"] is True and "not sent again" in again["note"]
    assert [(r["method"], r["operation"]) for r in admin(sandbox, "GET", "/requests")["requests"][calls:]] == [
        ("GET", "show")
    ]
    assert submissions(sandbox) == 2


def test_the_first_try_writes_its_checkpoints_and_reads_none() -> None:
    class Store(MemoryCheckpoint):
        reads = 0

        def get(self, key: str, default: Any = None) -> Any:
            Store.reads += 1
            return super().get(key, default)

    store = Store()
    first = checkpoint_from({"task_state_store": store, "ti": SimpleNamespace(try_number=1)})
    assert first.get("update") is None
    first.set("update", {"generation": 1})
    assert first.get("update") == {"generation": 1} and store.values == {"update": {"generation": 1}}
    assert Store.reads == 0
    retry = checkpoint_from({"task_state_store": store, "ti": SimpleNamespace(try_number=2)})
    assert retry.get("update") == {"generation": 1} and Store.reads == 1


def test_a_refused_update_is_returned_as_data(sandbox, hook, job) -> None:
    job = {**job, "body": {**job["body"], "video_multipart_count": 0}}  # out of range: refused before sending
    outcome = remediate_job(hook, job, MemoryCheckpoint())
    assert outcome["ok"] is False and outcome["step"] == "update" and outcome["uploads"] == []
    assert outcome["error"]["error_type"] == "MetaStudioValidationError"
    assert log(sandbox, "PUT", "update") == []


def test_label_names_the_job_and_its_files(job) -> None:
    assert job_label(job) == f"{JOB}: training_video (3 parts), id_card_front"


def test_threads_only_where_the_supervisor_channel_allows_them(monkeypatch) -> None:
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    assert usable_concurrency(4) == 4  # outside a task
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object.__new__(InProcessSupervisorComms), raising=False)
    assert usable_concurrency(4) == 1  # airflow dags test


class Operator:
    """Stands for ``ti.task``: Airflow's SIGTERM handler calls ``ti.task.on_kill()``."""

    def __init__(self) -> None:
        self.killed = 0

    def on_kill(self) -> None:
        self.killed += 1


class TaskInstance:
    def __init__(self) -> None:
        self.task, self.task_id, self.map_index = Operator(), "remediate_job", 0
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def two_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from metastudio_remediation import settings

    monkeypatch.setattr(settings, "upload_concurrency", lambda default: 2)


def test_on_kill_stops_the_uploads_and_a_retry_resumes(sandbox, hook, job, two_at_a_time) -> None:
    from metastudio_provider.checkpointed_upload import UploadStopped
    from metastudio_remediation.job_task import run_job_task

    admin(sandbox, "PATCH", "/settings", json={"upload_rate_mbps": 0.5})  # a 256 KiB part takes about 4 s
    checkpoint, ti, raised = MemoryCheckpoint(), TaskInstance(), []

    def work() -> None:
        try:
            run_job_task(hook, job, ti, checkpoint)
        except UploadStopped as exc:
            raised.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    while checkpoint.get("update") is None and worker.is_alive():
        time.sleep(0.05)
    time.sleep(0.5)  # the first two parts are on the wire
    ti.task.on_kill()  # marked failed in the UI
    worker.join(timeout=60)

    assert not worker.is_alive() and len(raised) == 1
    assert ti.task.killed == 1 and ti.pushed == {}  # the operator's own on_kill ran too; no outcome recorded
    recorded = {key for key in checkpoint.values if key.startswith("upload/")}
    accepted = accepted_since(sandbox, 0)
    assert len(recorded) == len(accepted) < 4  # the checkpoint holds exactly what the sandbox accepted
    assert log(sandbox, "POST", "command") == [] and state(sandbox) == "AUTO_VERIFY_FAILED"

    admin(sandbox, "PATCH", "/settings", json={"upload_rate_mbps": 0})
    outcome = run_job_task(MetaStudioHook(hook.metastudio_conn_id), job, TaskInstance(), checkpoint)

    assert outcome["ok"] is True and outcome["updates"] == 1, outcome  # resumed with the same URLs
    assert len(log(sandbox, "PUT", "update")) == 1
    accepted_puts = [entry for entry in log(sandbox, "PUT", "upload") if entry["status"] == 200]
    assert len(accepted_puts) == 4  # every part accepted exactly once over both attempts
    assert state(sandbox) == "AUTO_VERIFYING" and submissions(sandbox) == 2


def test_a_refused_job_fails_its_task_with_the_error_after_recording_its_outcome(
    sandbox, hook, job, two_at_a_time
) -> None:
    from metastudio_remediation.job_task import JobRemediationFailed, run_job_task

    admin(sandbox, "PUT", "/faults/update", json={"error_next": 1, "error_status": 400, "error_code": "MSS.00000003"})
    ti = TaskInstance()
    with pytest.raises(JobRemediationFailed) as failed:
        run_job_task(hook, job, ti, MemoryCheckpoint())

    outcome = ti.pushed["return_value"]  # what the report reads: the job, its step and error, where it ran
    assert outcome["ok"] is False and outcome["step"] == "update" and outcome["map_index"] == 0
    assert outcome["error"]["error_code"] == "MSS.00000003" and outcome["error"]["request_id"]
    assert str(failed.value).startswith(f"job {JOB} failed at update: MSS.00000003 ")
    assert str(failed.value).endswith(f"(request id {outcome['error']['request_id']})")
    assert ti.task.on_kill.__self__ is ti.task  # the task's own on_kill is back
