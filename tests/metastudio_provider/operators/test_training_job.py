"""The thin operators against the sandbox: sealed URLs, streaming uploads, failures as data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from metastudio_provider.exceptions import MetaStudioClientError, MetaStudioConfigError
from metastudio_provider.operators.training_job import (
    MetaStudioExecuteCommandOperator,
    MetaStudioUpdateTrainingJobOperator,
    MetaStudioUploadAssetOperator,
)
from metastudio_provider.url_vault import open_sealed_url
from metastudio_sandbox.server import run_in_thread

AK, SK, PROJECT_ID = "OPERATORTESTAK000001", "operator-test-secret-key-0123", "0123456789abcdef0123456789abcdef"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400


class FakeTI:
    task_id, map_index = "op", 4

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number


class FakeStateStore:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch):
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, review_delay=0.1) as server:
        connection = {
            "conn_type": "metastudio",
            "host": server.url,
            "login": AK,
            "password": SK,
            "extra": {"project_id": PROJECT_ID, "retry_delay": 0.05},
        }
        monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_DEFAULT", json.dumps(connection))
        yield server


def verify_failed_job(sandbox) -> str:
    jobs = requests.get(f"{sandbox.url}/_sandbox/jobs", timeout=10).json()["jobs"]
    return next(entry["job"]["job_id"] for entry in jobs if entry["job"]["state"] == "AUTO_VERIFY_FAILED")


def test_update_returns_sealed_urls_only(sandbox) -> None:
    job_id = verify_failed_job(sandbox)
    result = MetaStudioUpdateTrainingJobOperator(task_id="u", job_id=job_id, body={"video_multipart_count": 2}).execute(
        {"ti": FakeTI()}
    )
    assert result["ok"] and result["job_id"] == job_id and result["request_id"]
    document = json.dumps(result)
    assert "Signature=" not in document and "http" not in document  # nothing usable in XCom
    video = [t for t in result["upload_targets"] if t["asset"] == "training_video"]
    assert [t["part_number"] for t in video] == [1, 2]
    assert open_sealed_url(video[0]["sealed_url"]).startswith(sandbox.url)


def test_upload_streams_then_a_retry_does_not_reuse_the_url(sandbox, tmp_path: Path) -> None:
    job_id = verify_failed_job(sandbox)
    targets = MetaStudioUpdateTrainingJobOperator(task_id="u", job_id=job_id, body={}).execute({"ti": FakeTI()})
    cover = next(t for t in targets["upload_targets"] if t["asset"] == "id_card_front")
    source = tmp_path / "front.jpg"
    source.write_bytes(JPEG)
    store = FakeStateStore()
    operator = MetaStudioUploadAssetOperator(
        task_id="up", sealed_url=cover["sealed_url"], source=str(source), job_id=job_id, asset_label="id_card_front"
    )
    first = operator.execute({"ti": FakeTI(), "task_state_store": store})
    assert first["ok"] and first["bytes_sent"] == len(JPEG) and first["sha256"] == hashlib.sha256(JPEG).hexdigest()
    files = requests.get(f"{sandbox.url}/_sandbox/jobs/{job_id}", timeout=10).json()["files"]
    assert any(f["asset"] == "id_card_image1" and f["sha256"] == first["sha256"] for f in files)

    again = MetaStudioUploadAssetOperator(
        task_id="up", sealed_url=cover["sealed_url"], source=str(source), job_id=job_id, asset_label="id_card_front"
    ).execute({"ti": FakeTI(try_number=2), "task_state_store": store})
    assert again == first  # the accepted result, not a second PUT to a used URL


def test_errors_as_data_or_raised(sandbox, tmp_path: Path) -> None:
    jobs = requests.get(f"{sandbox.url}/_sandbox/jobs", timeout=10).json()["jobs"]
    done = next(entry["job"]["job_id"] for entry in jobs if entry["job"]["state"] == "JOB_SUCCESS")
    as_data = MetaStudioUpdateTrainingJobOperator(task_id="u", job_id=done, body={}, errors_as_data=True).execute(
        {"ti": FakeTI()}
    )
    assert not as_data["ok"] and as_data["error"]["error_code"] == "MSS.10002002"
    assert (as_data["task_id"], as_data["map_index"]) == ("op", 4)
    with pytest.raises(MetaStudioClientError):
        MetaStudioUpdateTrainingJobOperator(task_id="u", job_id=done, body={}).execute({"ti": FakeTI()})
    command = MetaStudioExecuteCommandOperator(task_id="c", job_id=done, command="SUBMITVERIFYING", errors_as_data=True)
    result = command.execute({"ti": FakeTI()})
    assert not result["ok"] and result["error"]["error_code"].startswith("MSS.")


def test_a_clear_text_url_is_refused(sandbox, tmp_path: Path) -> None:
    source = tmp_path / "f.jpg"
    source.write_bytes(JPEG)
    with pytest.raises(MetaStudioConfigError, match="not sealed"):
        MetaStudioUploadAssetOperator(
            task_id="up", sealed_url=f"{sandbox.url}/_obs/upload/x?Signature=y", source=str(source)
        ).execute({"ti": FakeTI()})


def test_without_a_fernet_key_urls_are_not_put_in_xcom(sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import crypto

    monkeypatch.setattr(crypto, "get_fernet", lambda: crypto._NullFernet())
    monkeypatch.setattr("metastudio_provider.url_vault.get_fernet", lambda: crypto._NullFernet())
    with pytest.raises(MetaStudioConfigError, match="No Fernet key"):
        MetaStudioUpdateTrainingJobOperator(task_id="u", job_id=verify_failed_job(sandbox), body={}).execute(
            {"ti": FakeTI()}
        )
    sent = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=10).json()["requests"]
    assert not [r for r in sent if r["method"] == "PUT"]  # refused before the Update was sent


def test_operators_are_declarative() -> None:
    operator = MetaStudioUploadAssetOperator(task_id="up", sealed_url="fernet:x", source="{{ params.path }}")
    assert "sealed_url" not in operator.template_fields  # never rendered, never shown in the UI
    assert {"source", "job_id", "asset_label"} <= set(operator.template_fields)
    assert "hook" not in operator.__dict__  # nothing built at construction time
