"""A person's answers applied against the sandbox over real HTTP: what each option sends to MetaStudio.

The DAG turns answers into decisions (:func:`decide`), the decisions into jobs for
``remediate_answered_job`` (:func:`jobs_to_remediate`), and runs :func:`remediate_job` on them.
Here the same chain runs on a job that failed review with its files in place; the sandbox counts
what arrived. (The browser and REST paths to the answer are in ``tests/ui``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from metastudio_provider.checkpoint import MemoryCheckpoint
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_remediation.human import CORRECT, FIELDS_PARAM, RESUBMIT, SKIP, decide, jobs_to_remediate
from metastudio_remediation.remediate import remediate_job
from metastudio_sandbox.server import SandboxServer, run_in_thread

AK, SK, PROJECT_ID = "HUMANANSWERACCESS001", "human-answer-secret-0123456789abc", "0a11ce0000000000000000000000cafe"
JOB = "0a11ce00000000000000000000000c01"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    history = [
        {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-2d"},
        {"log_type": "MANUAL_VERIFY_FAILED", "at": "-1d", "log_description": "letter not legible"},
    ]
    job = {
        "name": "c01",
        "job_id": JOB,
        "state": "MANUAL_VERIFY_FAILED",
        "create_time": "-3d",
        "assets": {"training_video": "mp4", "id_card_image1": "jpeg", "id_card_image2": "jpeg", "grant_file": "pdf"},
        "history": history,
    }
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"jobs": [job]}))
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=3600) as server:
        yield server


@pytest.fixture
def hook(sandbox: SandboxServer, metastudio_conn) -> MetaStudioHook:
    return MetaStudioHook(metastudio_conn(sandbox.url, login=AK, password=SK, project_id=PROJECT_ID, read_timeout=10))


def request_item() -> dict[str, Any]:
    return {"job_id": JOB, "state": "MANUAL_VERIFY_FAILED", "review_failure": None, "reason": "rejected 4 times"}


def answered(option: str, fields: Any = None) -> dict[str, Any]:
    return {"chosen_options": [option], "params_input": {FIELDS_PARAM: fields}, "responded_by_user": {"name": "li"}}


def sandbox_job(sandbox: SandboxServer) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}/_sandbox/jobs/{JOB}", timeout=10)
    response.raise_for_status()
    return response.json()


def updates(sandbox: SandboxServer) -> list[dict[str, Any]]:
    response = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=10)
    response.raise_for_status()
    return [r for r in response.json()["requests"] if r["method"] == "PUT" and r["operation"] == "update"]


def apply(hook: MetaStudioHook, option: str, fields: Any = None) -> list[dict[str, Any]]:
    items = [request_item()]
    return [
        remediate_job(hook, job, MemoryCheckpoint(), concurrency=1)
        for job in jobs_to_remediate(items, decide(items, [answered(option, fields)]))
    ]


def test_resubmit_as_is_sends_the_job_back_to_review_with_its_files_unchanged(sandbox, hook) -> None:
    files_before = sandbox_job(sandbox)["files"]
    (outcome,) = apply(hook, RESUBMIT)
    assert outcome["ok"] is True and outcome["uploads"] == [], outcome
    assert outcome["commands"][-1] == "SUBMITVERIFYING"
    after = sandbox_job(sandbox)
    assert after["job"]["state"] == "AUTO_VERIFYING"
    assert after["files"] == files_before  # nothing uploaded


def test_corrected_fields_are_the_update_and_the_job_goes_back_to_review(sandbox, hook) -> None:
    (outcome,) = apply(hook, CORRECT, {"batch_name": "december-retry", "tags": ["hitl"]})
    assert outcome["ok"] is True, outcome
    job = sandbox_job(sandbox)["job"]
    assert (job["state"], job["batch_name"], job["tags"]) == ("AUTO_VERIFYING", "december-retry", ["hitl"])
    assert len(updates(sandbox)) == 1


def test_skip_and_refused_fields_send_nothing(sandbox, hook) -> None:
    assert apply(hook, SKIP) == []
    assert apply(hook, CORRECT, {"supported_service": ["LIVE_3D"]}) == []
    assert updates(sandbox) == [] and sandbox_job(sandbox)["job"]["state"] == "MANUAL_VERIFY_FAILED"
