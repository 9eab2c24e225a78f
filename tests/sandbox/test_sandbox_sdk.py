"""Huawei's official Python SDK, signing with AK/SK, completes every operation against the sandbox."""

from __future__ import annotations

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import (
    Create2dModelTrainingJobReq,
    Create2dModelTrainingJobRequest,
    Delete2dModelTrainingJobRequest,
    Execute2dModelTrainingCommandByUserReq,
    Execute2dModelTrainingCommandByUserRequest,
    List2dModelTrainingJobRequest,
    MetaStudioClient,
    Show2dModelTrainingJobRequest,
    Update2dModelTrainingJobReq,
    Update2dModelTrainingJobRequest,
)
from sandbox_helpers import MP4, OCTET, Api


def test_sdk_lists_and_shows_failed_jobs(sdk_client: MetaStudioClient) -> None:
    listed = sdk_client.list2d_model_training_job(
        List2dModelTrainingJobRequest(state="AUTO_VERIFY_FAILED,MANUAL_VERIFY_FAILED", limit=10, sort_dir="desc")
    )
    assert listed.count == 4
    assert {job.state for job in listed.jobs} == {"AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"}
    assert len(listed.x_request_id) == 32

    shown = sdk_client.show2d_model_training_job(Show2dModelTrainingJobRequest(job_id=listed.jobs[0].job_id))
    failures = [log for log in shown.operation_logs if log.log_type.endswith("_VERIFY_FAILED")]
    assert failures
    assert failures[-1].error_code
    assert failures[-1].log_description


def test_sdk_create_upload_command_delete(sdk_client: MetaStudioClient, api: Api) -> None:
    created = sdk_client.create2d_model_training_job(
        Create2dModelTrainingJobRequest(
            x_app_user_id="app-user-1",
            body=Create2dModelTrainingJobReq(name="sdk avatar", video_multipart_count=2, tags=["sdk"]),
        )
    )
    assert len(created.job_id) == 32
    assert len(created.training_video_upload_url) == 2
    for index, url in enumerate(created.training_video_upload_url):
        half = len(MP4) // 2
        chunk = MP4[:half] if index == 0 else MP4[half:]
        assert requests.put(url, data=chunk, headers=OCTET, timeout=10).status_code == 200

    parts = sdk_client.execute2d_model_training_command_by_user(
        Execute2dModelTrainingCommandByUserRequest(
            job_id=created.job_id, body=Execute2dModelTrainingCommandByUserReq(command="GET_MULTIPART_UPLOADED")
        )
    )
    assert parts.commond_result == "EXCUTE_SUCCESS"
    assert [part.part_number for part in parts.multipart_data] == ["1", "2"]

    shown = sdk_client.show2d_model_training_job(Show2dModelTrainingJobRequest(job_id=created.job_id))
    assert shown.state == "WAIT_FILE_UPLOAD"
    assert shown.app_user_id == "app-user-1"

    sdk_client.delete2d_model_training_job(Delete2dModelTrainingJobRequest(job_id=created.job_id))
    assert api.show(created.job_id).status_code == 404


def test_sdk_updates_a_failed_job(sdk_client: MetaStudioClient, api: Api) -> None:
    job_id = api.job_ids_in("AUTO_VERIFY_FAILED")[0]
    updated = sdk_client.update2d_model_training_job(
        Update2dModelTrainingJobRequest(
            job_id=job_id,
            body=Update2dModelTrainingJobReq(command_message="UPDATE_VIDEO", video_multipart_count=3),
        )
    )
    assert updated.job_id == job_id
    assert len(updated.training_video_upload_url) == 3
    assert updated.grant_file_upload_url.startswith(api.base + "/_obs/upload/")
    assert api.show(job_id).json()["state"] == "AUTO_VERIFY_FAILED"


def test_sdk_sees_errors_with_code_and_request_id(sdk_client: MetaStudioClient) -> None:
    with pytest.raises(ClientRequestException) as raised:
        sdk_client.show2d_model_training_job(Show2dModelTrainingJobRequest(job_id="f" * 32))
    assert raised.value.status_code == 404
    assert raised.value.error_code == "MSS.10002001"
    assert len(raised.value.request_id) == 32
