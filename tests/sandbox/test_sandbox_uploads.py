"""Presigned uploads: signed, single-use, superseded by updates, streamed to disk with size/SHA-256 recorded."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sandbox_helpers import AK, JPEG, MP4, OCTET, PROJECT, SK, Api

from metastudio_sandbox.server import run_in_thread
from metastudio_sandbox.settings import Settings


def api_data_dir(api: Api) -> Path:
    return Path(api.admin("GET", "/settings").json()["data_dir"])


def files_of(api: Api, job_id: str) -> list[dict[str, Any]]:
    return api.admin("GET", f"/jobs/{job_id}").json()["files"]


def test_upload_records_size_sha256_and_content_type(api: Api) -> None:
    created = api.create({"name": "upload", "audio_source_type": "AUDIO"}).json()
    body = os.urandom(3 * 1024 * 1024 + 17)  # large enough for the direct socket path
    answer = requests.put(created["training_video_upload_url"][0], data=body, headers=OCTET, timeout=10)
    assert answer.status_code == 200
    digest = hashlib.sha256(body).hexdigest()
    assert answer.headers["ETag"] == f'"{digest[:32]}"'
    assert answer.headers["X-Request-Id"]
    zip_answer = requests.put(
        created["audio_upload_url"], data=b"PK\x03\x04zip", timeout=10, headers={"Content-Type": "application/zip"}
    )
    assert zip_answer.status_code == 200
    recorded = {(item["asset"], item["part"]): item for item in files_of(api, created["job_id"])}
    assert recorded["training_video", 1]["size"] == len(body)
    assert recorded["training_video", 1]["sha256"] == digest
    assert recorded["training_video", 1]["content_type"] == "application/octet-stream"
    assert recorded["audio", 0]["content_type"] == "application/zip"


def test_used_url_is_refused(api: Api) -> None:
    url = api.create({"name": "once"}).json()["cover_upload_url"]
    assert requests.put(url, data=JPEG, headers=OCTET, timeout=5).status_code == 200
    again = requests.put(url, data=JPEG, headers=OCTET, timeout=5)
    assert (again.status_code, again.json()["error_code"]) == (403, "OBS.0410")


def test_update_supersedes_unused_urls(api: Api) -> None:
    job_id = api.job_ids_in("AUTO_VERIFY_FAILED")[0]
    first = api.update(job_id, {"video_multipart_count": 1}).json()
    second = api.update(job_id, {"video_multipart_count": 1}).json()
    old = requests.put(first["id_card_image1_upload_url"], data=JPEG, headers=OCTET, timeout=5)
    assert (old.status_code, old.json()["error_code"]) == (403, "OBS.0412")
    assert requests.put(second["id_card_image1_upload_url"], data=JPEG, headers=OCTET, timeout=5).status_code == 200
    shown = api.show(job_id).json()
    assert shown["state"] == "AUTO_VERIFY_FAILED"
    assert [log["log_type"] for log in shown["operation_logs"]][-2:] == ["USER_UPDATE_VIDEO", "USER_UPDATE_VIDEO"]


def test_deleted_job_invalidates_its_urls(api: Api) -> None:
    created = api.create({"name": "gone"}).json()
    api.delete(created["job_id"])
    answer = requests.put(created["cover_upload_url"], data=JPEG, headers=OCTET, timeout=5)
    assert (answer.status_code, answer.json()["error_code"]) == (403, "OBS.0412")


def test_expired_and_forged_urls_are_refused(api: Api) -> None:
    api.admin("PATCH", "/settings", json={"url_ttl": 0})
    expired = api.create({"name": "expired"}).json()["cover_upload_url"]
    time.sleep(1.1)
    answer = requests.put(expired, data=JPEG, headers=OCTET, timeout=5)
    assert (answer.status_code, answer.json()["error_code"]) == (403, "OBS.0419")
    api.admin("PATCH", "/settings", json={"url_ttl": 3600})
    url = api.create({"name": "forged"}).json()["cover_upload_url"]
    forged_expiry = url.replace("Expires=", "Expires=9")
    answer = requests.put(forged_expiry, data=JPEG, headers=OCTET, timeout=5)
    assert (answer.status_code, answer.json()["error_code"]) == (403, "OBS.0403")
    unsigned = url.split("?")[0]
    assert requests.put(unsigned, data=JPEG, headers=OCTET, timeout=5).status_code == 403
    assert "Signature" not in str(api.admin("GET", "/requests").json())


@pytest.mark.parametrize(
    ("field", "headers", "status", "code"),
    [
        ("cover_upload_url", {"Content-Type": "image/jpeg"}, 400, "OBS.0415"),
        ("cover_upload_url", {}, 400, "OBS.0415"),
        ("audio_upload_url", OCTET, 400, "OBS.0415"),
    ],
)
def test_content_type_is_enforced(api: Api, field: str, headers: dict[str, str], status: int, code: str) -> None:
    url = api.create({"name": "ct"}).json()[field]
    answer = requests.put(url, data=b"abc", headers=headers, timeout=5)
    assert (answer.status_code, answer.json()["error_code"]) == (status, code)
    # A refused attempt does not use the URL up.
    content_type = "application/zip" if field == "audio_upload_url" else "application/octet-stream"
    assert requests.put(url, data=b"abc", headers={"Content-Type": content_type}, timeout=5).status_code == 200


def test_chunked_body_and_wrong_method_are_refused(api: Api) -> None:
    url = api.create({"name": "chunked"}).json()["cover_upload_url"]
    chunked = requests.put(url, data=iter([b"abc", b"def"]), headers=OCTET, timeout=5)
    assert (chunked.status_code, chunked.json()["error_code"]) == (411, "OBS.0411")
    post = requests.post(url, data=b"abc", headers=OCTET, timeout=5)
    assert (post.status_code, post.json()["error_code"]) == (405, "OBS.0405")


def _send_partial(url: str, length: int, sent: int) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        head = (
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"\x00" * sent)


@pytest.mark.parametrize("size", [1000, 4 * 1024 * 1024])
def test_aborted_upload_does_not_consume_the_url(api: Api, size: int) -> None:
    created = api.create({"name": "abort"}).json()
    url = created["training_video_upload_url"][0]
    _send_partial(url, size, size // 2)
    deadline = time.time() + 60  # a deadline, not a timing: generous for a loaded machine
    while time.time() < deadline and api.admin("GET", "/requests").json()["requests"][-1]["operation"] != "upload":
        time.sleep(0.05)
    time.sleep(0.2)
    assert files_of(api, created["job_id"]) == []
    body = MP4 + b"\x00" * (size - len(MP4))
    answer = requests.put(url, data=body, headers=OCTET, timeout=10)
    assert answer.status_code == 200
    assert files_of(api, created["job_id"])[0]["sha256"] == hashlib.sha256(body).hexdigest()
    leftovers = list((api_data_dir(api) / "tmp").iterdir())
    assert leftovers == []


def test_multipart_get_and_confirm(api: Api) -> None:
    created = api.create({"name": "multi", "video_multipart_count": 3}).json()
    job_id = created["job_id"]
    urls = created["training_video_upload_url"]
    pieces = [MP4[:700], MP4[700:1400], MP4[1400:]]
    requests.put(urls[2], data=pieces[2], headers=OCTET, timeout=5)
    requests.put(urls[0], data=pieces[0], headers=OCTET, timeout=5)
    listed = api.command(job_id, "GET_MULTIPART_UPLOADED").json()
    assert [item["part_number"] for item in listed["multipart_data"]] == ["1", "3"]
    assert all(isinstance(item["etag"], str) and item["etag"] for item in listed["multipart_data"])
    missing = api.command(job_id, "CONFIRM_MULTIPART_UPLOADED")
    assert missing.status_code == 200
    assert missing.json()["commond_result"] == "EXCUTE_FAILED"
    assert "2" in missing.json()["excute_failed_msg"]
    assert missing.json()["error_info"]["error_code"] == "MSS.10002004"
    requests.put(urls[1], data=pieces[1], headers=OCTET, timeout=5)
    assert api.command(job_id, "CONFIRM_MULTIPART_UPLOADED").json()["commond_result"] == "EXCUTE_SUCCESS"
    whole = next(item for item in files_of(api, job_id) if item["part"] == 0)
    assert whole["sha256"] == hashlib.sha256(MP4).hexdigest()
    download = requests.get(api.show(job_id).json()["training_video_download_url"], timeout=5)
    assert download.content == MP4


def test_action_video_and_letter_commands(api: Api) -> None:
    created = api.create({"name": "action", "action_video_multipart_count": 2}).json()
    job_id = created["job_id"]
    assert api.command(job_id, "CONFIRM_AUTHORIZATION_LETTER").json()["commond_result"] == "EXCUTE_FAILED"
    requests.put(created["grant_file_upload_url"], data=b"%PDF-1.4", headers=OCTET, timeout=5)
    assert api.command(job_id, "CONFIRM_AUTHORIZATION_LETTER").json()["commond_result"] == "EXCUTE_SUCCESS"
    for index, url in enumerate(created["action_video_upload_url"]):
        requests.put(url, data=f"part{index}".encode(), headers=OCTET, timeout=5)
    parts = api.command(job_id, "GET_ACTION_VIDEO_MULTIPART_UPLOADED").json()["multipart_data"]
    assert [item["part_number"] for item in parts] == ["1", "2"]
    confirmed = api.command(job_id, "CONFIRM_ACTION_VIDEO_MULTIPART_UPLOADED").json()
    assert confirmed["commond_result"] == "EXCUTE_SUCCESS"
    assert api.command(job_id, "DELETE_JOB_VIDEO").json()["commond_result"] == "EXCUTE_SUCCESS"
    assert not [item for item in files_of(api, job_id) if item["asset"] == "action_video"]


def test_portable_upload_path_under_h11() -> None:
    """With the h11 protocol (no httptools), large uploads and mid-upload disconnects work the same."""
    with run_in_thread(Settings(ak=AK, sk=SK, project_id=PROJECT), http="h11") as server:
        api = Api(server.url)
        created = api.create({"name": "h11"}).json()
        url = created["training_video_upload_url"][0]
        body = os.urandom(2 * 1024 * 1024)
        api.admin("PUT", "/faults/upload", json={"disconnect_next": 1, "disconnect_after_bytes": 100_000})
        with pytest.raises(requests.ConnectionError):
            requests.put(url, data=body, headers=OCTET, timeout=5)
        answer = requests.put(url, data=body, headers=OCTET, timeout=10)
        assert answer.status_code == 200
        assert files_of(api, created["job_id"])[0]["sha256"] == hashlib.sha256(body).hexdigest()
