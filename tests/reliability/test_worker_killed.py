"""The worker is killed (SIGKILL) in the middle of an upload; the retry finishes the job or reports it.

The upload operator runs in a child process, as a worker would run it, with a task state store
that survives the process (as Airflow's does). Three kills:

1. mid-body (the sandbox holds the body back, so the kill surely lands while bytes are in flight):
   MetaStudio discards the partial object and the URL stays unused; the retry uploads everything.
2. after MetaStudio accepted the bytes but before the result was recorded: the retry finds the URL
   used (403 ``OBS.0410``) and reports the upload failed; it never claims success. The next run's
   Update issues fresh URLs (see ``test_lost_answers_and_urls``).
3. after the result was recorded: the retry reports the recorded result and sends nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_provider.operators.training_job import MetaStudioUploadAssetOperator
from metastudio_provider.url_vault import seal_url
from tests.reliability.harness import AK, ANCHOR, PROJECT_ID, SK, calls, fault, job_view, sha256

pytestmark = pytest.mark.slow
SIZE = 64 * 1024 * 1024


class FileStateStore:
    """The task state store's get/set, kept in a JSON file so it outlives the killed process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.path.read_text()).get(key, default) if self.path.exists() else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.path.write_text(json.dumps({**data, key: value}))


class FakeTi:
    task_id, map_index = "upload_asset", 0


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
def video(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    with path.open("wb") as handle:
        handle.write(b"\x00\x00\x00\x20ftypisom" + os.urandom(4096))
        handle.truncate(SIZE)
    return path


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
