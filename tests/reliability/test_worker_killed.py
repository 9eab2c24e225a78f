"""The worker is killed (SIGKILL) in the middle of the work; the retry finishes the job or reports it.

The code runs in a child process, as a worker would run it, with a task state store that
survives the process (as Airflow's does).

The DAG's ``remediate_job`` (one job: Update, its parts, confirm, ``SUBMITVERIFYING``), killed:

1. in the middle of a part's body (the sandbox holds the body back, so the kill surely lands while
   bytes are in flight): the retry keeps the URLs (no second Update) and sends only the parts the
   sandbox had not accepted, counted at the sandbox;
2. after the sandbox accepted a part but before it was recorded: the retry finds that URL used
   (403 ``OBS.0410``), gets fresh URLs with one more Update and sends every part again;
3. after ``SUBMITVERIFYING`` reached the job but before that was recorded: the retry reads the job's
   logs and does not send it again.

The provider's single-upload operator (for DAGs built from it), killed:

4. mid-body: MetaStudio discards the partial object and the URL stays unused; the retry uploads
   everything.
5. after MetaStudio accepted the bytes but before the result was recorded: the retry finds the URL
   used and reports the upload failed; it never claims success.
6. after the result was recorded: the retry reports the recorded result and sends nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.operators.training_job import MetaStudioUploadAssetOperator
from metastudio_provider.url_vault import seal_url
from metastudio_remediation.planning import part_ranges
from metastudio_remediation.remediate import remediate_job
from metastudio_sandbox import samples
from tests.reliability.harness import AK, ANCHOR, PROJECT_ID, SK, calls, fault, job_view, sha256, submissions
from tests.support.media import SampleMedia

pytestmark = pytest.mark.slow
SIZE = 64 * 1024 * 1024


class FileStateStore:
    """The task state store's get/set, kept in a JSON file so it outlives the killed process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()  # the uploading threads record their parts concurrently

    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            return json.loads(self.path.read_text()).get(key, default) if self.path.exists() else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        with self.lock:
            data = json.loads(self.path.read_text()) if self.path.exists() else {}
            self.path.with_suffix(".tmp").write_text(json.dumps({**data, key: value}))
            self.path.with_suffix(".tmp").replace(self.path)


class FakeTi:
    task_id, map_index = "upload_asset", 0
    try_number = 2  # a retry: it reads what an earlier try recorded in the state store


def attempt(sealed: str, source: str, store: str, out: str, kill_after_upload: bool) -> None:
    """One try of the upload task, in its own process (like a worker)."""
    operator = MetaStudioUploadAssetOperator(
        task_id="upload_asset", sealed_url=sealed, source=source, job_id=ANCHOR,
        asset_label="training_video part 1/1", errors_as_data=True,
    )  # fmt: skip
    if kill_after_upload:
        upload = operator.hook.upload_file

        def upload_then_die(*args: Any, **kwargs: Any) -> Any:
            upload(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # accepted by the server, not yet recorded

        operator.hook.upload_file = upload_then_die
    result = operator.execute({"task_state_store": FileStateStore(Path(store)), "ti": FakeTi()})
    Path(out).write_text(json.dumps(result))


def run_attempt(tmp_path: Path, sealed: str, source: Path, *, kill_after: float | None = None, **kw: Any) -> Any:
    out = tmp_path / "result.json"
    out.unlink(missing_ok=True)
    process = multiprocessing.get_context("fork").Process(
        target=attempt, args=(sealed, str(source), str(tmp_path / "state.json"), str(out), kw.get("die", False))
    )
    process.start()
    if kill_after is not None:
        time.sleep(kill_after)
        process.kill()
    process.join(60)
    return (process.exitcode, json.loads(out.read_text()) if out.exists() else None)


@pytest.fixture
def video(tmp_path: Path, media: SampleMedia) -> Path:
    """A real video (1080p, 3 min, H.264) padded to exactly SIZE with an unreferenced, sparse mdat box."""
    recorded = media.make(tmp_path / "recorded.mp4", samples.make_video)
    return samples.pad_mdat(recorded, SIZE, dest=tmp_path / "video.mp4")


def fresh_url(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = {"conn_type": "metastudio", "host": sandbox.url, "login": AK, "password": SK}
    connection["extra"] = {"project_id": PROJECT_ID, "retry_delay": 0.2, "read_timeout": 10}
    monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_DEFAULT", json.dumps(connection))
    urls = MetaStudioHook().update_training_job(ANCHOR, {"video_multipart_count": 1})
    (target,) = [t for t in urls.targets if t.asset == "training_video"]
    return seal_url(target.url)


def url_status(sandbox: Any) -> str:
    (url,) = [u for u in job_view(sandbox.url, ANCHOR)["urls"] if u["asset"] == "training_video" and u["part"] == 1]
    return url["status"]


def test_killed_mid_body_then_retried(sandbox, video, tmp_path, monkeypatch) -> None:
    sealed = fresh_url(sandbox, monkeypatch)
    fault(sandbox.url, "upload", latency_ms=3000, latency_next=1)  # the body waits in the socket buffers

    exitcode, result = run_attempt(tmp_path, sealed, video, kill_after=1.5)
    assert exitcode == -signal.SIGKILL and result is None
    time.sleep(2)  # the sandbox reads the half body, sees the disconnect, discards it
    assert url_status(sandbox) == "active"
    assert ("training_video", 1) not in {(f["asset"], f["part"]) for f in job_view(sandbox.url, ANCHOR)["files"]}

    exitcode, result = run_attempt(tmp_path, sealed, video)  # the retry
    assert exitcode == 0 and result["ok"] is True and result["bytes_sent"] == SIZE
    files = {(f["asset"], f["part"]): f["sha256"] for f in job_view(sandbox.url, ANCHOR)["files"]}
    assert files[("training_video", 1)] == result["sha256"] == sha256(video)

    uploads = len(calls(sandbox.url, "PUT", "upload"))  # killed after the result was recorded:
    exitcode, again = run_attempt(tmp_path, sealed, video)  # the next try reports it, sends nothing
    assert exitcode == 0 and again == result
    assert len(calls(sandbox.url, "PUT", "upload")) == uploads


def test_killed_after_acceptance_before_recording(sandbox, video, tmp_path, monkeypatch) -> None:
    sealed = fresh_url(sandbox, monkeypatch)
    exitcode, result = run_attempt(tmp_path, sealed, video, die=True)
    assert exitcode == -signal.SIGKILL and result is None
    assert url_status(sandbox) == "used"

    exitcode, result = run_attempt(tmp_path, sealed, video)
    assert exitcode == 0 and result["ok"] is False  # reported, never claimed
    assert (result["error"]["status"], result["error"]["error_code"]) == (403, "OBS.0410")
    assert not (tmp_path / "state.json").exists()  # nothing recorded as uploaded


# ----------------------------------------------------------------------------------------------
# remediate_job, the DAG's task
# ----------------------------------------------------------------------------------------------

SUBMIT = "SUBMITVERIFYING"
CARD = 300 * 1024


def remediate_attempt(job: dict[str, Any], base_url: str, store: str, out: str, kill: str | None) -> None:
    """One try of the DAG's remediate_job, in its own process (like a worker); ``kill``: where it dies."""
    hook = MetaStudioHook()
    upload, command = hook.upload_file, hook.execute_command

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def upload_with_kill(url: str, source: Any, **kwargs: Any) -> Any:
        if kill == "mid-body of part 3" and kwargs["asset"] == "training_video part 3/3":
            fault(base_url, "upload", latency_ms=4000, latency_next=1)  # the body waits in the socket buffers
            threading.Timer(1.5, die).start()
        result = upload(url, source, **kwargs)
        if kill == "after part 2 was accepted" and kwargs["asset"] == "training_video part 2/3":
            die()  # accepted by the sandbox, not yet recorded
        return result

    def command_with_kill(job_id: str, name: str, **kwargs: Any) -> Any:
        result = command(job_id, name, **kwargs)
        if kill == "after SUBMITVERIFYING" and name == SUBMIT:
            die()  # it reached the job; the mark says only "maybe sent"
        return result

    hook.upload_file, hook.execute_command = upload_with_kill, command_with_kill
    outcome = remediate_job(hook, job, FileStateStore(Path(store)), concurrency=1)
    Path(out).write_text(json.dumps(outcome))


@pytest.fixture
def anchor_job(video: Path, tmp_path: Path, media: SampleMedia) -> dict[str, Any]:
    """Anchor's plan: the 64 MiB video in 3 parts and an ID card front (a real JPEG of at least CARD bytes)."""
    card = media.make(tmp_path / "front.jpg", samples.make_jpeg, size=CARD)  # camera-sized: padded APP15 segments
    octet = "application/octet-stream"
    uploads = [
        {"asset": "training_video", "part_number": n, "part_count": 3, "source": str(video), "offset": offset,
         "length": length, "content_type": octet}
        for n, (offset, length) in enumerate(part_ranges(SIZE, 3), start=1)
    ] + [{"asset": "id_card_front", "part_number": None, "part_count": None, "source": str(card), "offset": 0,
          "length": card.stat().st_size, "content_type": octet}]  # fmt: skip
    return {"job_id": ANCHOR, "state": "AUTO_VERIFY_FAILED", "body": {"video_multipart_count": 3}, "uploads": uploads}


def run_remediation(tmp_path: Path, job: dict[str, Any], base_url: str, kill: str | None = None) -> Any:
    out = tmp_path / "outcome.json"
    out.unlink(missing_ok=True)
    process = multiprocessing.get_context("fork").Process(
        target=remediate_attempt, args=(job, base_url, str(tmp_path / "state.json"), str(out), kill)
    )
    process.start()
    process.join(120)
    return process.exitcode, json.loads(out.read_text()) if out.exists() else None


def accepted_since(base_url: str, moment: float) -> dict[tuple[str, int], int]:
    """(asset, part) -> bytes of each file or video part the sandbox stored after ``moment``."""
    files = [f for f in job_view(base_url, ANCHOR)["files"] if f["part"] >= 1 or f["asset"] != "training_video"]
    return {(f["asset"], f["part"]): f["size"] for f in files if f["received_at"] > moment}


@pytest.fixture
def connection(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    document = {"conn_type": "metastudio", "host": sandbox.url, "login": AK, "password": SK}
    document["extra"] = {"project_id": PROJECT_ID, "retry_delay": 0.2, "read_timeout": 10}
    monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_DEFAULT", json.dumps(document))
    return sandbox.url


def test_remediation_killed_mid_part_resends_only_what_was_not_accepted(connection, anchor_job, tmp_path) -> None:
    url, started = connection, time.time()
    exitcode, outcome = run_remediation(tmp_path, anchor_job, url, kill="mid-body of part 3")
    assert exitcode == -signal.SIGKILL and outcome is None
    deadline = time.monotonic() + 60  # the sandbox reads the rest of the held body, sees the disconnect, discards it
    while len(calls(url, "PUT", "upload")) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [entry["status"] for entry in calls(url, "PUT", "upload")] == [200, 200, None]
    assert set(accepted_since(url, started)) == {("training_video", 1), ("training_video", 2)}
    puts, mark = len(calls(url, "PUT", "upload")), time.time()

    exitcode, outcome = run_remediation(tmp_path, anchor_job, url)  # the retry

    assert exitcode == 0 and outcome["ok"] is True and outcome["updates"] == 1, outcome
    assert len(calls(url, "PUT", "update", ANCHOR)) == 1  # the recorded URLs were used: no second Update
    resent = calls(url, "PUT", "upload")[puts:]
    assert [entry["status"] for entry in resent] == [200, 200]  # part 3 and the ID card, nothing else
    third, card = part_ranges(SIZE, 3)[2][1], anchor_job["uploads"][3]["length"]  # the JPEG's size, from the file
    assert accepted_since(url, mark) == {("training_video", 3): third, ("id_card_image1", 0): card}
    assert sum(row["bytes_sent"] for row in outcome["uploads"] if not row.get("resumed")) == third + card
    files = {(f["asset"], f["part"]): f["sha256"] for f in job_view(url, ANCHOR)["files"]}
    assert files[("training_video", 0)] == sha256(Path(anchor_job["uploads"][0]["source"]))  # reassembled whole
    assert submissions(url, ANCHOR) == 2


def test_remediation_killed_after_acceptance_gets_fresh_urls(connection, anchor_job, tmp_path) -> None:
    url = connection
    exitcode, outcome = run_remediation(tmp_path, anchor_job, url, kill="after part 2 was accepted")
    assert exitcode == -signal.SIGKILL and outcome is None

    exitcode, outcome = run_remediation(tmp_path, anchor_job, url)

    assert exitcode == 0 and outcome["ok"] is True and outcome["updates"] == 2, outcome
    assert "OBS.0410" in outcome["note"]  # part 2's URL was used up by the lost attempt
    assert [entry["status"] for entry in calls(url, "PUT", "upload")] == [200, 200, 403, 200, 200, 200, 200]
    assert submissions(url, ANCHOR) == 2


def test_remediation_killed_after_submitverifying_does_not_send_it_again(connection, anchor_job, tmp_path) -> None:
    url = connection
    exitcode, outcome = run_remediation(tmp_path, anchor_job, url, kill="after SUBMITVERIFYING")
    assert exitcode == -signal.SIGKILL and outcome is None
    requests_before = {op: len(calls(url, "PUT", op)) for op in ("update", "upload")}

    exitcode, outcome = run_remediation(tmp_path, anchor_job, url)

    assert exitcode == 0 and outcome["ok"] is True and "not sent again" in outcome["note"], outcome
    assert submissions(url, ANCHOR) == 2  # the scenario's and the lost attempt's: never a third
    assert {op: len(calls(url, "PUT", op)) for op in ("update", "upload")} == requests_before
