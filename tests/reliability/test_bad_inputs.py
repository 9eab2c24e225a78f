"""Bad inputs: each gets a clear error naming what is wrong, and the rest of the work goes on.

Covered elsewhere (not repeated): ``tests/metastudio_remediation/test_manifest.py`` (malformed
YAML/JSON, unknown top-level keys, bad job ids, duplicate ids, unknown/mistyped/out-of-range update
fields, missing files, ``..`` and absolute paths, symlinks out of the root, empty files, wrong file
types per asset kind, a lowered size limit), ``tests/dags/test_dag_integrity.py`` (params),
``tests/metastudio_provider/hooks/test_connection_config.py`` (connection fields and extras) and
``test_metastudio_api.py`` (non-JSON and malformed List answers). This file adds the rest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from metastudio_provider.checkpoint import MemoryCheckpoint
from metastudio_provider.exceptions import MetaStudioInvalidResponseError, MetaStudioValidationError
from metastudio_provider.submission import finalize_job
from metastudio_remediation.discovery import find_failed_jobs, plan_remediation
from metastudio_remediation.manifest import ManifestError, load_manifest
from metastudio_remediation.planning import plan_run
from metastudio_remediation.remediate import remediate_job
from metastudio_remediation.report import build_report
from metastudio_sandbox import samples
from tests.support.local_server import LocalServer, Reply
from tests.support.media import SampleMedia

JOB, OTHER = "0a11ce0000000000000000000000a001", "0a11ce0000000000000000000000a002"


# ----------------------------------------------------------------------------------------------
# Corrections manifests
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, media: SampleMedia) -> Path:
    media.make(tmp_path / "assets" / "id.jpg", samples.make_jpeg)  # a real ID card photo
    return tmp_path


def manifest_with(root: Path, entry: str, text: str | None = None) -> Any:
    path = root / "corrections.yaml"
    body = f"assets_root: assets\njobs:\n  {JOB}: {entry}\n  {OTHER}: {{assets: {{cover: id.jpg}}}}\n"
    path.write_text(text if text is not None else body)
    return load_manifest(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{assets: {cover: id.jpg}, colour: red}", "Additional properties are not allowed ('colour'"),
        ("{assets: {cover: 5}}", "assets.cover: 5 is not of type 'string'"),
        ("{assets: {cover: id.jpg}, note: [1]}", "note: [1] is not of type 'string'"),
        ("{update: {video_multipart_count: 0}}", "update.video_multipart_count"),
        ("{update: {video_multipart_count: '2'}}", "update.video_multipart_count"),
        ("{update: {is_flexus: true}}", "update.is_flexus"),
        ("{assets: {cover: sub}}", "'sub' does not exist"),  # a folder, not a file
        ("{assets: {cover: loop.jpg}}", "loop.jpg"),  # a symlink loop
        ("{assets: {training_video: huge.mp4}}", "the limit for training_video is 21474836480"),
        ("{assets: {audio: id.jpg}}", "looks like jpeg; audio must be zip"),
    ],
)
def test_bad_job_entries_fail_only_that_job(root: Path, media: SampleMedia, entry: str, message: str) -> None:
    (root / "assets" / "sub").mkdir()
    os.symlink("loop.jpg", root / "assets" / "loop.jpg")
    recorded = media.make(root / "recorded.mp4", samples.make_video)
    # A real video padded (sparse mdat) to 20 GiB + 1 byte: it plays, and is one byte over the real limit.
    samples.pad_mdat(recorded, 20 * 1024**3 + 1, dest=root / "assets" / "huge.mp4")
    manifest = manifest_with(root, entry)
    assert list(manifest.corrections) == [OTHER]
    assert JOB in manifest.errors and message in manifest.errors[JOB], manifest.errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping"),
        ("assets_root: 5\njobs: {}\n", "assets_root: 5 is not of type 'string'"),
        ("version: 2\njobs: {}\n", "version"),
        ("jobs: [a, b]\n", "jobs"),
        ("jobs: {}\nassets_root: /\x00\n", "not valid YAML"),
    ],
)
def test_bad_manifest_files_name_the_file_and_the_place(root: Path, text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as excinfo:
        manifest_with(root, "", text=text)
    assert str(root / "corrections.yaml") in str(excinfo.value)


def test_non_utf8_and_unreadable_manifests(root: Path) -> None:
    path = root / "corrections.yaml"
    path.write_bytes(b"jobs: {\xff\xfe}\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(path)
    if os.geteuid() != 0:  # root reads anything
        path.write_text("jobs: {}\n")
        path.chmod(0)
        with pytest.raises(ManifestError, match="cannot read"):
            load_manifest(path)


def test_unreadable_asset_fails_only_that_job(root: Path, media: SampleMedia) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read a mode-000 file")
    secret = media.make(root / "assets" / "locked.jpg", samples.make_jpeg)
    secret.chmod(0)
    manifest = manifest_with(root, "{assets: {cover: locked.jpg}}")
    assert "cannot be read" in manifest.errors[JOB] and list(manifest.corrections) == [OTHER]


# ----------------------------------------------------------------------------------------------
# Trigger params
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("job_ids", [JOB, JOB]),  # duplicates
        ("job_ids", ["x" * 65]),
        ("job_ids", [1]),
        ("job_ids", ["a b"]),
        ("job_ids", None),
        ("max_jobs", 201),
        ("max_jobs", 2.5),
        ("corrections_path", 5),
        ("wait_for_review", "true"),
    ],
)
def test_invalid_trigger_params_are_refused_by_name(name: str, bad: Any) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    from tests.dags.test_dag_integrity import DAG_ID  # noqa: F401 - same DAG
    from tests.reliability.dag_loader import remediation_dag

    candidate = ParamsDict(remediation_dag().params)
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
        candidate[name] = bad


# ----------------------------------------------------------------------------------------------
# Connections
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (None, "extra 'project_id' is required"),
        ({"project_id": "p", "app_user_id": "tab\there"}, "X-App-UserId"),
        ({"project_id": "p", "app_user_id": "bell\x07"}, "X-App-UserId"),
        ({"project_id": "p", "headers": {"X-Evil": "1"}}, "headers"),
        ({"project_id": "p", "timeout": 5}, "timeout"),
    ],
)
def test_bad_connection_extras_name_the_problem(extra: Any, problem: str) -> None:
    from airflow.models.connection import Connection

    from metastudio_provider.exceptions import MetaStudioConfigError
    from metastudio_provider.hooks.connection_config import config_from_connection

    connection = Connection(
        conn_id="bad", conn_type="metastudio", host="https://example.test", login="ak", password="sk",
        extra=json.dumps(extra) if extra is not None else None,
    )  # fmt: skip
    with pytest.raises(MetaStudioConfigError, match="bad") as excinfo:
        config_from_connection(connection)
    assert problem in str(excinfo.value)


# ----------------------------------------------------------------------------------------------
# Server answers
# ----------------------------------------------------------------------------------------------


def job_body(job_id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "name": "n", "state": state, **extra}


def test_unknown_states_pass_through_and_are_skipped_with_their_name(make_hook) -> None:
    def respond(request):
        if request.path.endswith("/jobs"):
            return Reply(
                200, {"count": 2, "jobs": [job_body(JOB, "QUANTUM_LEAPING"), job_body(OTHER, "AUTO_VERIFY_FAILED")]}
            )
        return Reply(200, job_body(request.path.rsplit("/", 1)[-1], "QUANTUM_LEAPING", operation_logs=[]))

    with LocalServer(respond) as server:
        hook = make_hook(server.base_url)
        listed = hook.list_training_jobs()
        by_id = find_failed_jobs(hook, [JOB])
    assert [job.state for job in listed] == ["QUANTUM_LEAPING", "AUTO_VERIFY_FAILED"]
    assert by_id == [{"job_id": JOB, "name": "n", "state": "QUANTUM_LEAPING"}]
    plan = plan_run([{**by_id[0], "review_failure": None, "rejections": 0}], _Manifest({JOB}))
    assert plan["skipped"][0]["reason"].startswith("state QUANTUM_LEAPING")


class _Manifest:
    def __init__(self, ids: set[str]) -> None:
        self.corrections = {job_id: object() for job_id in ids}
        self.errors: dict[str, str] = {}
        self.job_ids = ids


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, body=b"upstream timeout"), "not JSON"),
        (Reply(200, {"job_id": JOB, "name": "n"}), "state"),
        (Reply(200, {"job_id": JOB, "name": "n", "state": 7}), "state"),
    ],
)
def test_malformed_show_answers_fail_only_that_job_at_plan_time(make_hook, reply, message) -> None:
    def respond(request):
        if request.path.endswith(OTHER):
            return Reply(200, job_body(OTHER, "AUTO_VERIFY_FAILED", operation_logs=[]))
        return reply

    candidates = [{"job_id": j, "name": "n", "state": "AUTO_VERIFY_FAILED"} for j in (JOB, OTHER)]
    with LocalServer(respond) as server:
        plan = plan_remediation(make_hook(server.base_url), candidates, _Manifest({JOB}))
    with LocalServer(respond) as server:
        with pytest.raises(MetaStudioInvalidResponseError, match=message):
            make_hook(server.base_url).get_training_job(JOB)
    assert [item["job_id"] for item in plan["failed"]] == [JOB]
    assert plan["failed"][0]["error"]["error_type"] == "MetaStudioInvalidResponseError"
    assert [item["job_id"] for item in plan["skipped"]] == [OTHER]  # planned normally (no correction)


def test_update_answer_without_the_needed_url_is_reported(make_hook, tmp_path: Path, media: SampleMedia) -> None:
    cover = media.make(tmp_path / "cover.jpg", samples.make_jpeg, width=640, height=360)
    upload = {"asset": "cover", "part_number": None, "part_count": None, "source": str(cover), "offset": 0,
              "length": cover.stat().st_size, "content_type": "application/octet-stream"}  # fmt: skip
    job = {"job_id": JOB, "state": "AUTO_VERIFY_FAILED", "body": {}, "uploads": [upload], "upload_count": 1}
    with LocalServer(lambda request: Reply(200, {"job_id": JOB})) as server:  # an Update answer with no URL
        outcome = remediate_job(make_hook(server.base_url), job, MemoryCheckpoint())
        assert [request.method for request in server.requests] == ["PUT"]  # nothing uploaded, nothing submitted
    assert outcome["ok"] is False and outcome["error"]["error_type"] == "MissingUploadUrl"
    report = build_report(plan={"to_fix": [job]}, dry_run=False, outcomes=[outcome])
    (row,) = report["jobs"]
    assert row["status"] == "failed" and "returned no upload URL for cover" in row["detail"]
    assert report["errors"][0]["error_type"] == "MissingUploadUrl" and report["failed"]


def test_command_answers_that_are_not_json_or_refused(make_hook) -> None:
    refusal = {
        "commond_result": "EXCUTE_FAILED",
        "excute_failed_msg": "no",
        "error_info": {"error_code": "MSS.10002002"},
    }
    answers = iter([Reply(200, body=b"<html>"), Reply(200, refusal)])
    with LocalServer(lambda request: next(answers)) as server:
        hook = make_hook(server.base_url)
        not_json = finalize_job(hook, {"job_id": JOB, "assets": []})
        refused = finalize_job(hook, {"job_id": JOB, "assets": []})
    assert not_json["ok"] is False and "not JSON" in not_json["error"]["error_msg"]
    assert (refused["error"]["error_code"], refused["error"]["status"]) == ("MSS.10002002", 200)


def test_bad_job_id_is_refused_before_anything_is_sent(make_hook) -> None:
    with LocalServer(lambda request: Reply(500)) as server:
        with pytest.raises(MetaStudioValidationError, match="job id"):
            make_hook(server.base_url).get_training_job("../../etc")
        assert server.requests == []
