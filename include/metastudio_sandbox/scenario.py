"""Seed jobs from a scenario (YAML or JSON), and the default scenario used when none is given.

Format (see docs/sandbox.md)::

    jobs:
      - name: Anchor Li                   # required
        job_id: 0123...cdef               # optional, 32 hex; default derived from the name
        state: AUTO_VERIFY_FAILED         # default WAIT_FILE_UPLOAD
        create_time: -3d                  # RFC 3339 or relative: -90s, -30m, -5h, -3d
        last_update_time: -2d
        fields: {batch_name: spring, tags: [news], asset_id: ...}   # any Show field
        assets: {training_video: mp4, id_card_image1: jpeg, id_card_image2: png, grant_file: pdf}
        history:                          # operation_logs after USER_CREATE_JOD, oldest first
          - {log_type: SYSTEM_VERIFY_FAILED, at: -2d, error_code: "44005901",
             log_description: ..., asset: training_video}   # asset: this file is known-bad
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from metastudio_sandbox.assets import ASSETS, OCTET_STREAM, ZIP, synthetic
from metastudio_sandbox.jobs import new_job
from metastudio_sandbox.states import STATES
from metastudio_sandbox.store import FileRecord, Store
from metastudio_sandbox.timeutil import scenario_time
from metastudio_sandbox.views import BASIC_FIELDS, OPERATION_LOG_FIELDS, SHOW_FIELDS

_JOB_KEYS = {"name", "job_id", "state", "create_time", "last_update_time", "fields", "assets", "history"}
_SEEDED_PARTS = 1
_VALID_FIELDS = (set(BASIC_FIELDS) | set(SHOW_FIELDS)) - {"job_id", "name", "state", "operation_logs"}


def default_job_id(name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"metastudio-sandbox:{name}").hex


def read_scenario(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        raise ValueError(f"{path}: a scenario is a mapping with a 'jobs' list")
    return data


def _user_of(log_type: str) -> str:
    prefix = log_type.split("_", 1)[0]
    return prefix if prefix in ("USER", "ADMIN", "SYSTEM") else "SYSTEM"


def load_scenario(store: Store, scenario: dict[str, Any], project_id: str, now: float | None = None) -> list[str]:
    """Add (or replace) the scenario's jobs; returns their ids. Raises ValueError on a bad scenario."""
    now = time.time() if now is None else now
    jobs = scenario.get("jobs")
    if not isinstance(jobs, list):
        raise ValueError("a scenario is a mapping with a 'jobs' list")
    built = [_build(spec, index, project_id, now) for index, spec in enumerate(jobs)]
    ids = []
    for job, assets in built:
        store.delete_job(job["job_id"])
        for asset, kind in assets.items():
            _seed_file(store, job, asset, kind, now)
        for asset, bad in job["_meta"]["known_bad"].items():
            records = store.files_of(job["job_id"], asset)
            if not records:
                raise ValueError(f"job {job['name']!r}: history marks asset {asset!r} bad but it is not in assets")
            bad["sha256"] = records[0].sha256
        store.put_job(job)
        ids.append(job["job_id"])
    return ids


def _build(spec: Any, index: int, project_id: str, now: float) -> tuple[dict[str, Any], dict[str, str]]:
    where = f"jobs[{index}]"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(f"{where}: each job is a mapping with a 'name'")
    unknown = set(spec) - _JOB_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    job_id = str(spec.get("job_id") or default_job_id(spec["name"]))
    if len(job_id) != 32 or any(char not in "0123456789abcdef" for char in job_id):
        raise ValueError(f"{where}: job_id must be 32 lowercase hex characters")
    state = spec.get("state", "WAIT_FILE_UPLOAD")
    if state not in STATES:
        raise ValueError(f"{where}: unknown state {state!r}")
    created = scenario_time(spec.get("create_time"), now)
    job = new_job(job_id, {"name": spec["name"]}, project_id, created, None)
    job["state"] = state
    job["last_update_time"] = scenario_time(spec.get("last_update_time") or spec.get("create_time"), now)
    fields = spec.get("fields") or {}
    bad_fields = set(fields) - _VALID_FIELDS
    if bad_fields:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(bad_fields))}")
    job.update(fields)
    assets = spec.get("assets") or {}
    for asset in assets:
        if asset not in ASSETS:
            raise ValueError(f"{where}: unknown asset {asset!r}; use one of {', '.join(ASSETS)}")
    job["_meta"]["video_confirmed"] = "training_video" in assets
    job["_meta"]["letter_confirmed"] = "grant_file" in assets
    for entry in spec.get("history") or []:
        _add_history(job, entry, where, now)
    return job, assets


def _add_history(job: dict[str, Any], entry: Any, where: str, now: float) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("log_type"), str):
        raise ValueError(f"{where}.history: each entry needs a log_type")
    unknown = set(entry) - set(OPERATION_LOG_FIELDS) - {"at", "asset"}
    if unknown:
        raise ValueError(f"{where}.history: unknown key(s) {', '.join(sorted(unknown))}")
    log = {
        "operate_time": scenario_time(entry.get("at"), now),
        "log_type": entry["log_type"],
        "log_description": entry.get("log_description", ""),
        "operate_user": entry.get("operate_user", _user_of(entry["log_type"])),
    }
    for key in ("error_code", "redo_reasons"):
        if key in entry:
            log[key] = entry[key]
    job["operation_logs"].append(log)
    if entry.get("asset"):
        job["_meta"]["known_bad"][entry["asset"]] = {
            "error_code": str(entry.get("error_code", "")),
            "log_description": log["log_description"],
        }


def _seed_file(store: Store, job: dict[str, Any], asset: str, kind: str, now: float) -> None:
    content = synthetic(kind, f"{job['job_id']}:{asset}")
    path = store.file_path(job["job_id"], asset, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    sha256 = hashlib.sha256(content).hexdigest()
    content_type = ZIP if asset == "audio" else OCTET_STREAM
    store.put_file(FileRecord(job["job_id"], asset, 0, len(content), sha256, sha256[:32], content_type, now))


_ALL_ASSETS = {
    "training_video": "mp4",
    "id_card_image1": "jpeg",
    "id_card_image2": "png",
    "grant_file": "pdf",
    "cover": "jpeg",
}
_SUBMITTED = {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-2d"}

DEFAULT_SCENARIO: dict[str, Any] = {
    "jobs": [
        {
            "name": "Anchor Li 4K studio",
            "state": "AUTO_VERIFY_FAILED",
            "create_time": "-3d",
            "last_update_time": "-2d",
            "fields": {"batch_name": "spring-campaign", "tags": ["news"], "contact": "13800000001"},
            "assets": _ALL_ASSETS,
            "history": [
                _SUBMITTED,
                {
                    "log_type": "SYSTEM_VERIFY_FAILED",
                    "at": "-2d",
                    "error_code": "44005901",
                    "asset": "training_video",
                    "log_description": "Video resolution not accepted; only 1920x1080, 1080x1920, 3840x2160 or "
                    "2160x3840 are allowed (got 1280x720)",
                },
            ],
        },
        {
            "name": "Host Wang e-commerce",
            "state": "AUTO_VERIFY_FAILED",
            "create_time": "-4d",
            "last_update_time": "-2d",
            "fields": {"batch_name": "spring-campaign", "tags": ["ecommerce"]},
            "assets": _ALL_ASSETS,
            "history": [
                _SUBMITTED,
                {
                    "log_type": "SYSTEM_VERIFY_FAILED",
                    "at": "-2d",
                    "error_code": "44005902",
                    "asset": "id_card_image1",
                    "log_description": "自动审核不通过-人证不匹配: the face in the training video does not match the "
                    "ID card photo (glare on the ID card front)",
                },
            ],
        },
        {
            "name": "Presenter Zhao",
            "state": "MANUAL_VERIFY_FAILED",
            "create_time": "-5d",
            "last_update_time": "-3d",
            "fields": {"batch_name": "autumn-launch", "tags": ["marketing"]},
            "assets": _ALL_ASSETS,
            "history": [
                _SUBMITTED,
                {"log_type": "SYSTEM_VERIFY_SUCCESS", "at": "-2d", "log_description": "Automatic review passed"},
                {
                    "log_type": "ADMIN_VERIFY_FAILED",
                    "at": "-1d",
                    "error_code": "44005909",
                    "asset": "grant_file",
                    "log_description": "The authorization letter is not signed by the ID holder",
                },
            ],
        },
        {
            "name": "Teacher Chen",
            "state": "MANUAL_VERIFY_FAILED",
            "create_time": "-9d",
            "last_update_time": "-4d",
            "fields": {"batch_name": "autumn-launch", "tags": ["education"], "model_resolution": "4K"},
            "assets": _ALL_ASSETS,
            "history": [
                {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-8d"},
                {
                    "log_type": "SYSTEM_VERIFY_FAILED",
                    "at": "-8d",
                    "error_code": "44005901",
                    "log_description": "Video resolution not accepted (got 1280x720)",
                },
                {"log_type": "USER_UPDATE_VIDEO", "at": "-4d", "log_description": "command_message=UPDATE_VIDEO"},
                {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-4d"},
                {"log_type": "SYSTEM_VERIFY_SUCCESS", "at": "-4d", "log_description": "Automatic review passed"},
                {
                    "log_type": "ADMIN_VERIFY_FAILED",
                    "at": "-3d",
                    "error_code": "44005911",
                    "asset": "training_video",
                    "log_description": "Portrait content shot in landscape: rotate the training video",
                },
            ],
        },
        {
            "name": "Brand Ambassador",
            "state": "JOB_SUCCESS",
            "create_time": "-20d",
            "last_update_time": "-18d",
            "fields": {"asset_id": "5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99", "tags": ["brand"]},
            "assets": _ALL_ASSETS,
            "history": [
                {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-18d"},
                {"log_type": "SYSTEM_VERIFY_SUCCESS", "at": "-18d"},
                {"log_type": "ADMIN_VERIFY_SUCCESS", "at": "-17d"},
                {"log_type": "SYSTEM_TRAINING", "at": "-16d"},
                {"log_type": "SYSTEM_JOB_SUCCESS", "at": "-14d"},
            ],
        },
        {
            "name": "Weather Anchor",
            "state": "TRAINING",
            "create_time": "-6d",
            "last_update_time": "-5d",
            "assets": _ALL_ASSETS,
            "history": [
                {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-5d"},
                {"log_type": "SYSTEM_VERIFY_SUCCESS", "at": "-5d"},
                {"log_type": "ADMIN_VERIFY_SUCCESS", "at": "-4d"},
                {"log_type": "SYSTEM_TRAINING", "at": "-2d"},
            ],
        },
        {"name": "Draft avatar", "state": "WAIT_FILE_UPLOAD", "create_time": "-1d"},
        {
            "name": "Sales Coach",
            "state": "AUTO_VERIFYING",
            "create_time": "-2h",
            "last_update_time": "-1h",
            "assets": _ALL_ASSETS,
            "history": [{"log_type": "USER_VERIFYING_SUBMITTED", "at": "-1h"}],
        },
        {
            "name": "Customer Service",
            "state": "MANUAL_VERIFYING",
            "create_time": "-2d",
            "last_update_time": "-1d",
            "fields": {"is_flexus": True, "flexus_retry_count": 3},
            "assets": _ALL_ASSETS,
            "history": [
                {"log_type": "USER_VERIFYING_SUBMITTED", "at": "-1d"},
                {"log_type": "SYSTEM_VERIFY_SUCCESS", "at": "-1d"},
            ],
        },
    ]
}
