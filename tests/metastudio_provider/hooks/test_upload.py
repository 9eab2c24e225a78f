"""Streaming uploads to presigned URLs: bytes and SHA-256 as received, memory, ranges, retries."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from metastudio_provider.exceptions import MetaStudioAuthError, MetaStudioValidationError
from metastudio_provider.hooks.upload import UPLOAD_BUFFERS, SegmentReader, UploadSourceError
from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.support.local_server import LocalServer, Recorded, Reply

MiB = 1024 * 1024
PRESIGNED = "/upload/obj-1?AccessKeyId=OBSAK&Expires=1900000000&Signature=c2lnbmF0dXJl"


def _write(path: Path, size: int) -> Path:
    block = os.urandom(MiB)
    with path.open("wb") as handle:
        for start in range(0, size, MiB):
            handle.write(block[: min(MiB, size - start)])
    return path


def _sha256(path: Path, offset: int = 0, length: int | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(offset)
        remaining = length if length is not None else path.stat().st_size - offset
        while remaining:
            chunk = handle.read(min(MiB, remaining))
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def etag_reply(request: Recorded) -> Reply:
    return Reply(200, headers={"ETag": '"9b2cf535f27731c974343645a3985328"'})


def test_upload_sends_plain_put_without_auth(make_hook, tmp_path: Path) -> None:
    source = _write(tmp_path / "id_front.jpg", 300_000)
    with LocalServer(etag_reply) as server:
        result = make_hook(server.base_url).upload_file(server.base_url + PRESIGNED, source, asset="id_card_front")
    (request,) = server.requests
    assert request.method == "PUT" and request.path == "/upload/obj-1"
    assert request.query == PRESIGNED.split("?")[1]
    assert request.header("Content-Type") == "application/octet-stream"
    assert request.header("Content-Length") == "300000" and request.header("Transfer-Encoding") is None
    assert request.header("Authorization") is None and request.header("X-Auth-Token") is None
    assert request.header("X-Project-Id") is None
    assert (request.body_size, request.body_sha256) == (300_000, _sha256(source))
    assert (result.bytes_sent, result.sha256, result.etag) == (
        300_000,
        _sha256(source),
        "9b2cf535f27731c974343645a3985328",
    )
    assert result.asset == "id_card_front" and result.attempts == 1


def test_byte_range_upload_sends_exactly_that_segment(make_hook, tmp_path: Path) -> None:
    source = _write(tmp_path / "video.mp4", 5 * MiB + 123)
    with LocalServer(etag_reply) as server:
        hook = make_hook(server.base_url)
        middle = hook.upload_file(server.base_url + PRESIGNED, source, offset=2 * MiB, length=2 * MiB)
        last = hook.upload_file(server.base_url + PRESIGNED, source, offset=4 * MiB)
    assert [r.body_size for r in server.requests] == [2 * MiB, MiB + 123]
    assert server.requests[0].body_sha256 == middle.sha256 == _sha256(source, 2 * MiB, 2 * MiB)
    assert server.requests[1].body_sha256 == last.sha256 == _sha256(source, 4 * MiB)
    assert last.offset == 4 * MiB


def test_retry_after_mid_upload_disconnect_resends_the_whole_segment(make_hook, sleeps, tmp_path: Path) -> None:
    source = _write(tmp_path / "video.mp4", 4 * MiB)
    replies = iter([Reply(read_then_drop=MiB // 2), Reply(200, headers={"ETag": '"e"'})])
    with LocalServer(lambda request: next(replies)) as server:
        result = make_hook(server.base_url).upload_file(server.base_url + PRESIGNED, source, offset=MiB, length=2 * MiB)
    first, second = server.requests
    assert first.body_size <= MiB // 2
    assert (second.body_size, second.body_sha256) == (2 * MiB, _sha256(source, MiB, 2 * MiB))
    assert result.attempts == 2 and result.sha256 == second.body_sha256 and result.bytes_sent == 2 * MiB


SANDBOX_AK, SANDBOX_SK = "UPLOADTESTACCESSKEY1", "upload-test-secret-key-0123456789"
SANDBOX_PROJECT, SANDBOX_JOB = "0a11ce0000000000000000000000feed", "0a11ce00000000000000000000000c01"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    history = [{"log_type": "SYSTEM_VERIFY_FAILED", "at": "-2d", "error_code": "44005901", "log_description": "720p"}]
    job = {
        "name": "c01",
        "job_id": SANDBOX_JOB,
        "state": "AUTO_VERIFY_FAILED",
        "create_time": "-3d",
        "history": history,
    }
    scenario = tmp_path_factory.mktemp("upload-sandbox") / "scenario.json"
    scenario.write_text(json.dumps({"jobs": [job]}))
    with run_in_thread(ak=SANDBOX_AK, sk=SANDBOX_SK, project_id=SANDBOX_PROJECT, scenario=scenario) as server:
        yield server


def received_by_sandbox(sandbox: SandboxServer, part: int) -> dict:
    files = requests.get(f"{sandbox.url}/_sandbox/jobs/{SANDBOX_JOB}", timeout=10).json()["files"]
    (record,) = [f for f in files if f["asset"] == "training_video" and f["part"] == part]
    return record


def test_reported_sha256_is_what_the_sandbox_received(make_hook, sandbox, tmp_path: Path) -> None:
    """A byte range, and a retry after the server dropped the connection mid-body: each time the
    hook reports the SHA-256 the server computed over the bytes it stored."""
    source = _write(tmp_path / "video.mp4", 3 * MiB + 5000)
    hook = make_hook(sandbox.url, login=SANDBOX_AK, password=SANDBOX_SK, project_id=SANDBOX_PROJECT)
    urls = hook.update_training_job(SANDBOX_JOB, {"video_multipart_count": 3}).for_asset("training_video")
    ranges = [(0, MiB), (MiB, MiB), (2 * MiB, MiB + 5000)]

    middle = hook.upload_file(urls[1].url, source, offset=ranges[1][0], length=ranges[1][1])
    assert middle.attempts == 1
    assert middle.sha256 == received_by_sandbox(sandbox, 2)["sha256"] == _sha256(source, *ranges[1])

    fault = {"disconnect_next": 1, "disconnect_after_bytes": 300_000}
    requests.put(f"{sandbox.url}/_sandbox/faults/upload", json=fault, timeout=10).raise_for_status()
    last = hook.upload_file(urls[2].url, source, offset=ranges[2][0], length=ranges[2][1])
    assert last.attempts == 2 and last.bytes_sent == MiB + 5000  # re-opened at the offset, sent it all again
    assert last.sha256 == received_by_sandbox(sandbox, 3)["sha256"] == _sha256(source, *ranges[2])


def test_segment_reader_hashes_what_it_hands_out_in_a_fixed_set_of_buffers() -> None:
    data = os.urandom(10 * 4096 + 17)
    stream = io.BytesIO(b"head" + data)
    stream.seek(4)
    reader = SegmentReader(stream, len(data), block_size=4096)
    sent, buffers = bytearray(), set()
    while block := reader.read(8192):
        buffers.add(id(block.obj))  # the bytearray behind the memoryview
        sent += block  # copied now: the buffer is refilled by a later read
    reader.close()
    assert bytes(sent) == data and reader.bytes_sent == len(data)
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    assert len(buffers) == UPLOAD_BUFFERS  # 11 blocks, 2 buffers: memory does not grow with the size


def hashing_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "upload-sha256"}


def test_the_hashing_thread_ends_after_the_last_block_or_on_close() -> None:
    before = hashing_threads()
    complete = SegmentReader(io.BytesIO(b"y" * 10_000), 10_000, block_size=4096)
    while complete.read():
        pass
    assert complete.sha256 == hashlib.sha256(b"y" * 10_000).hexdigest()  # no close() needed
    failed = SegmentReader(io.BytesIO(b"x" * 100_000), 100_000, block_size=4096)
    failed.read()
    failed.read()  # the request failed here: the rest is never read
    failed.close()
    assert failed.sha256 == hashlib.sha256(b"x" * 8192).hexdigest()
    assert hashing_threads() <= before


def test_refused_url_is_not_retried_and_names_no_secret(make_hook, sleeps, tmp_path: Path) -> None:
    source = _write(tmp_path / "letter.pdf", 1000)
    used = Reply(403, {"error_code": "OBS.0403", "error_msg": "upload URL already used"})
    with LocalServer(lambda request: used) as server, pytest.raises(MetaStudioAuthError) as excinfo:
        make_hook(server.base_url).upload_file(server.base_url + PRESIGNED, source)
    assert len(server.requests) == 1 and excinfo.value.error_code == "OBS.0403"
    assert "Signature" not in str(excinfo.value) and "AccessKeyId" not in str(excinfo.value)


def test_audio_content_type(make_hook, tmp_path: Path) -> None:
    source = _write(tmp_path / "audio.zip", 1000)
    with LocalServer(etag_reply) as server:
        make_hook(server.base_url).upload_file(server.base_url + PRESIGNED, source, content_type="application/zip")
    assert server.requests[0].header("Content-Type") == "application/zip"


class ShrinkingSource:
    """Claims more bytes than it has, like a file truncated while it is being uploaded."""

    def __init__(self, path: Path, claimed: int) -> None:
        self.path, self.claimed = path, claimed

    def open(self, mode: str):
        return self.path.open(mode)

    def stat(self):
        return {"size": self.claimed}


def test_source_that_shrinks_never_reports_success(make_hook, tmp_path: Path) -> None:
    real = _write(tmp_path / "video.mp4", 100_000)
    with LocalServer(etag_reply) as server:
        with pytest.raises(UploadSourceError, match="ended after 100000 of 200000 bytes"):
            make_hook(server.base_url).upload_file(server.base_url + PRESIGNED, ShrinkingSource(real, 200_000))


@pytest.mark.parametrize(
    ("url", "offset", "length"),
    [("ftp://obs.example/x", 0, None), ("http://127.0.0.1/x", -1, None), ("http://127.0.0.1/x", 0, 10**9)],
)
def test_bad_upload_arguments_are_rejected_before_sending(make_hook, tmp_path: Path, url, offset, length) -> None:
    source = _write(tmp_path / "f.bin", 1000)
    with pytest.raises(MetaStudioValidationError):
        make_hook("http://127.0.0.1:9").upload_file(url, source, offset=offset, length=length)


def test_missing_source_is_a_clear_error(make_hook, tmp_path: Path) -> None:
    with pytest.raises(UploadSourceError, match="cannot read upload source"):
        make_hook("http://127.0.0.1:9").upload_file("http://127.0.0.1:9/upload/x", tmp_path / "missing.mp4")


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from metastudio_provider.hooks.metastudio import MetaStudioHook

    hook = MetaStudioHook("metastudio_upload", progress_interval=0.2)
    hook.config, hook._upload_session  # resolve the connection before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = hook.upload_file(sys.argv[1], sys.argv[2], asset="training_video")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("RESULT " + json.dumps({"result": result.to_dict(), "before_kib": before, "after_kib": after}))
    """
)


@pytest.mark.slow
def test_200_mb_upload_streams_in_constant_memory(tmp_path: Path) -> None:
    size = 200 * MiB
    source = _write(tmp_path / "training_video.mp4", size)
    expected = _sha256(source)
    with LocalServer(etag_reply) as server:
        connection = {
            "conn_type": "metastudio",
            "host": server.base_url,
            "login": "AK-upload",
            "password": "SK-upload-secret",
            "extra": {"project_id": "p1"},
        }
        env = {**os.environ, "AIRFLOW_CONN_METASTUDIO_UPLOAD": json.dumps(connection)}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, server.base_url + PRESIGNED, str(source)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    report = json.loads(child.stdout.split("RESULT ", 1)[1])
    received = server.requests[0]
    assert received.body_size == size and received.body_sha256 == expected
    assert report["result"]["sha256"] == expected and report["result"]["bytes_sent"] == size
    extra_peak_mib = (report["after_kib"] - report["before_kib"]) / 1024
    assert extra_peak_mib < 32, f"upload raised peak RSS by {extra_peak_mib:.1f} MiB for a 200 MiB file"
    output = child.stdout + child.stderr
    assert "Uploading training_video:" in output and "MB/s" in output  # progress lines
    assert "Signature=" not in output
