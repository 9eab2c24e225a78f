"""Shared helpers of the sandbox tests: constants, a raw signed client, and an upload routine."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from metastudio_sandbox import samples
from metastudio_sandbox.assets import SEED_VIDEO

AK = "test-access-key"
SK = "test-secret-key-do-not-log"
PROJECT = "0123456789abcdef0123456789abcdef"
REVIEW_DELAY = 0.2
JOBS_PATH = f"/v1/{PROJECT}/digital-human-training-manage/user/jobs"
SAMPLES_CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "samples"  # as tests/metastudio_remediation


def _sample(maker: Callable[..., Path], name: str, **params: Any) -> bytes:
    """The bytes of a real sample file, made once per parameter set and then read from the cache."""
    with tempfile.TemporaryDirectory() as folder:
        return samples.make_cached(Path(folder) / name, maker, SAMPLES_CACHE, **params).read_bytes()


# Deliberately NOT a real video: an MP4 signature and zeros, which no player opens and the review rejects.
# Only for tests of the upload mechanics (bytes in, bytes out); a user's good video is VIDEO.
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000
# A genuine H.264 MP4 that passes the review (1920x1080, 3 min; the sandbox's seed video, 44 KB).
VIDEO = resources.files("metastudio_sandbox").joinpath(SEED_VIDEO).read_bytes()
# A user's good ID card photos and authorization letter: real files (samples.make_jpeg/make_png/make_pdf).
JPEG = _sample(samples.make_jpeg, "id_card_front.jpg")
PNG = _sample(samples.make_png, "id_card_back.png", back=True)
PDF = _sample(samples.make_pdf, "authorization_letter.pdf")
OCTET = {"Content-Type": "application/octet-stream"}


@dataclass
class Api:
    """Raw MetaStudio calls over HTTP, signed with SDK-HMAC-SHA256 by the official SDK's signer."""

    base: str
    ak: str = AK
    sk: str = SK

    def signed_parts(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, dict[str, str], bytes]:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        netloc = urlsplit(self.base).netloc
        request = SdkRequest(
            method=method,
            schema="http",
            host=netloc,
            resource_path=path,
            query_params=query or [],
            header_params={"Content-Type": "application/json", "X-Project-Id": PROJECT, **(headers or {})},
            body=raw,
        )
        Signer(BasicCredentials(self.ak, self.sk, PROJECT)).sign(request)
        return f"{self.base}{request.uri}", dict(request.header_params), raw

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url, headers, raw = self.signed_parts(method, path, **kwargs)
        return requests.request(method, url, headers=headers, data=raw, timeout=10)

    def list(self, **query: Any) -> requests.Response:
        return self.call("GET", JOBS_PATH, query=list(query.items()))

    def show(self, job_id: str) -> requests.Response:
        return self.call("GET", f"{JOBS_PATH}/{job_id}")

    def create(self, body: Any) -> requests.Response:
        return self.call("POST", JOBS_PATH, body=body)

    def update(self, job_id: str, body: Any) -> requests.Response:
        return self.call("PUT", f"{JOBS_PATH}/{job_id}", body=body)

    def delete(self, job_id: str) -> requests.Response:
        return self.call("DELETE", f"{JOBS_PATH}/{job_id}")

    def command(self, job_id: str, command: str, **extra: Any) -> requests.Response:
        return self.call("POST", f"{JOBS_PATH}/{job_id}/command", body={"command": command, **extra})

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/_sandbox{path}", timeout=10, **kwargs)

    def job_ids_in(self, state: str) -> list[str]:
        """Ids of the jobs in ``state``, via the admin API (immune to injected faults and throttles)."""
        jobs = self.admin("GET", "/jobs").json()["jobs"]
        return [item["job"]["job_id"] for item in jobs if item["job"]["state"] == state]


def upload_all(api: Api, urls: dict[str, Any], video: bytes = VIDEO) -> None:
    """Upload a complete, valid set of assets to the URLs of a Create/Update answer and confirm the video."""
    parts = urls["training_video_upload_url"]
    size = -(-len(video) // len(parts))
    for index, url in enumerate(parts):
        answer = requests.put(url, data=video[index * size : (index + 1) * size], headers=OCTET, timeout=10)
        assert answer.status_code == 200, answer.text
    for field, content in (
        ("id_card_image1_upload_url", JPEG),
        ("id_card_image2_upload_url", PNG),
        ("grant_file_upload_url", PDF),
    ):
        answer = requests.put(urls[field], data=content, headers=OCTET, timeout=10)
        assert answer.status_code == 200, answer.text
    confirmed = api.command(urls["job_id"], "CONFIRM_MULTIPART_UPLOADED").json()
    assert confirmed["commond_result"] == "EXCUTE_SUCCESS", confirmed
