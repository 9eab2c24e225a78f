"""``python -m metastudio_sandbox`` as a subprocess: ready line, CLI flags, clean stop, restart keeps everything."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sandbox_helpers import AK, JPEG, MP4, OCTET, PROJECT, SK, VIDEO, Api, upload_all

SCENARIO = """
jobs:
  - name: Scenario job
    job_id: 00000000000000000000000000000abc
    state: MANUAL_VERIFY_FAILED
    create_time: -2d
    assets: {training_video: mp4, id_card_image1: jpeg, id_card_image2: png, grant_file: pdf}
    history:
      - {log_type: ADMIN_VERIFY_FAILED, at: -1d, error_code: "44005909", asset: grant_file,
         log_description: The authorization letter is not signed}
"""


class Cli:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        command = [
            sys.executable,
            "-m",
            "metastudio_sandbox",
            "--port",
            "0",
            "--ak",
            AK,
            "--sk",
            SK,
            "--project-id",
            PROJECT,
            "--data-dir",
            str(data_dir),
            "--log-level",
            "info",
            *extra,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "MetaStudio sandbox listening on http://127.0.0.1:" in line, line
        self.url = line.rsplit(" ", 1)[-1].strip()
        self.api = Api(self.url)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=15)
        return self.process.returncode, stderr


@pytest.fixture
def clis() -> Iterator[list[Cli]]:
    started: list[Cli] = []
    yield started
    for cli in started:
        if cli.process.poll() is None:
            cli.process.kill()
            cli.process.communicate()


def test_restart_with_data_dir_keeps_jobs_files_and_url_state(tmp_path: Path, clis: list[Cli]) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    data = tmp_path / "data"
    first = Cli(
        data,
        "--scenario",
        str(scenario),
        "--review-delay",
        "0.5",
        "--fault",
        "list:error_next=1,error_status=502",
        "--throttle",
        "delete=0:1",
    )
    clis.append(first)
    api = first.api
    assert api.list().status_code == 502  # --fault
    assert [job["job_id"] for job in api.list().json()["jobs"]] == ["00000000000000000000000000000abc"]
    created = api.create({"name": "survivor"}).json()
    body = MP4 + os.urandom(50_000)
    assert requests.put(created["training_video_upload_url"][0], data=body, headers=OCTET, timeout=5).ok
    pending = api.create({"name": "pending"}).json()
    upload_all(api, pending)
    api.command(pending["job_id"], "SUBMITVERIFYING")
    assert api.delete(created["job_id"]).status_code == 200
    assert api.delete(pending["job_id"]).status_code == 429  # --throttle delete=0:1 allows one delete
    code, stderr = first.stop()
    assert code == 0
    for secret in (SK, "Signature=", "X-Subject-Token"):
        assert secret not in stderr

    second = Cli(data)
    clis.append(second)
    api = second.api
    ids = {job["job_id"] for job in api.list(limit=100).json()["jobs"]}
    assert ids == {"00000000000000000000000000000abc", pending["job_id"]}  # no re-seeding on restart
    deadline = time.time() + 60  # a deadline, not a timing: generous for a loaded machine
    while api.show(pending["job_id"]).json()["state"] == "AUTO_VERIFYING" and time.time() < deadline:
        time.sleep(0.1)
    assert api.show(pending["job_id"]).json()["state"] == "MANUAL_VERIFY_SUCCESS"  # review resumed
    files = api.admin("GET", f"/jobs/{pending['job_id']}").json()["files"]
    assert {record["asset"] for record in files} >= {"training_video", "id_card_image1", "grant_file"}
    download = requests.get(api.show(pending["job_id"]).json()["training_video_download_url"], timeout=5)
    assert hashlib.sha256(download.content).hexdigest() == hashlib.sha256(VIDEO).hexdigest()
    # URL state survives too: used URLs stay used, unused ones keep working (the secret is in the data dir;
    # the signature covers path and expiry, not the host, so only the port needs moving).
    moved = {key: value.replace(first.url, second.url) for key, value in pending.items() if isinstance(value, str)}
    used = requests.put(moved["grant_file_upload_url"], data=b"%PDF", headers=OCTET, timeout=5)
    assert used.json()["error_code"] == "OBS.0410"
    assert requests.put(moved["cover_upload_url"], data=JPEG, headers=OCTET, timeout=5).status_code == 200
    assert api.list().status_code == 200  # CLI faults are not persisted
    code, _ = second.stop(signal.SIGINT)
    assert code == 0


def test_cli_rejects_bad_flags(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "metastudio_sandbox",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--fault",
            "list:colour=red",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "colour" in result.stderr
