"""Streaming uploads to presigned URLs: bytes and SHA-256 as received, memory, ranges, retries."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from metastudio_provider.exceptions import MetaStudioAuthError, MetaStudioValidationError
from metastudio_provider.hooks.upload import UploadSourceError
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
