"""MetaStudioHook operations over real HTTP, every request checked by an independent signature verifier."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs

import pytest

from metastudio_provider.exceptions import (
    MetaStudioAuthError,
    MetaStudioCommandFailedError,
    MetaStudioInvalidResponseError,
    MetaStudioValidationError,
)
from metastudio_provider.models import latest_review_failure
from tests.support.fixtures import ACCESS_KEY, PROJECT_ID, SECRET_KEY
from tests.support.local_server import LocalServer, Recorded, Reply
from tests.support.sdk_verifier import make_verifier

JOBS = f"/v1/{PROJECT_ID}/digital-human-training-manage/user/jobs"


def _job(index: int, state: str = "AUTO_VERIFY_FAILED") -> dict:
    return {
        "job_id": f"{index:032x}",
        "name": f"avatar-{index}",
        "state": state,
        "create_time": "2026-11-01T00:00:00Z",
        "contact": "13800000000",
        "cover_download_url": "https://obs.example/cover?Signature=abc",
        "brand_new_field": {"x": 1},
    }


class FakeJobs:
    """Answers List with pages sliced from ``jobs`` the way MetaStudio pages them."""

    def __init__(self, count: int) -> None:
        self.jobs = [_job(i) for i in range(count)]

    def __call__(self, request: Recorded) -> Reply:
        query = parse_qs(request.query)
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        return Reply(200, {"count": len(self.jobs), "jobs": self.jobs[offset : offset + limit]})


def test_list_pages_through_every_job_with_signed_requests(make_hook) -> None:
    fake = FakeJobs(250)
    with LocalServer(fake, verify=make_verifier(ACCESS_KEY, SECRET_KEY, PROJECT_ID)) as server:
        jobs = make_hook(server.base_url).list_training_jobs(states=["AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED"])

    assert [job.job_id for job in jobs] == [job["job_id"] for job in fake.jobs]
    assert len(server.requests) == 3  # ceil(250 / 100)
    assert all(request.signature_ok for request in server.requests)
    first = server.requests[0]
    assert first.path == JOBS
    assert "state=AUTO_VERIFY_FAILED%2CMANUAL_VERIFY_FAILED" in first.query  # canonical encoding on the wire
    assert [parse_qs(r.query)["offset"][0] for r in server.requests] == ["0", "100", "200"]
    assert {parse_qs(r.query)["limit"][0] for r in server.requests} == {"100"}


def test_list_exact_multiple_of_page_size_costs_no_extra_request(make_hook) -> None:
    with LocalServer(FakeJobs(200)) as server:
        assert len(make_hook(server.base_url).list_training_jobs()) == 200
    assert len(server.requests) == 2


def test_list_sends_every_documented_filter(make_hook) -> None:
    with LocalServer(FakeJobs(0), verify=make_verifier(ACCESS_KEY, SECRET_KEY, PROJECT_ID)) as server:
        make_hook(server.base_url).list_training_jobs(
            states="MANUAL_VERIFY_FAILED",
            batch_name="batch 7",
            tag="vip",
            job_id="a" * 32,
            name="Ann Lee",
            model_resolution="4K",
            create_since=datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc),
            create_until="2026-11-24T00:00:00Z",
            update_since="2026-11-20T00:00:00Z",
            update_until="2026-11-24T00:00:00Z",
            sort_key="update_time",
            sort_dir="desc",
            is_flexus=False,
            is_live_copy=True,
            is_ondemand_resource=False,
            train_location="cn-north-4",
        )
    query = parse_qs(server.requests[0].query)
    assert server.requests[0].signature_ok
    assert query["state"] == ["MANUAL_VERIFY_FAILED"]
    assert query["batch_name"] == ["batch 7"]
    assert query["create_since"] == ["2026-11-01T08:00:00Z"]
    assert query["sort_key"] == ["update_time"] and query["sort_dir"] == ["desc"]
    assert query["is_flexus"] == ["false"] and query["is_live_copy"] == ["true"]
    assert {"tag", "job_id", "name", "model_resolution", "update_since", "update_until", "train_location"} <= set(query)


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"states": ["AUTO_VERIFY_FAILED", "bad state"]}, "state"),
        ({"create_since": datetime(2026, 1, 1)}, "create_since"),
        ({"update_until": "yesterday"}, "update_until"),
        ({"sort_key": "name"}, "sort_key"),
        ({"job_id": "../../etc"}, "job_id"),
        ({"page_size": 500}, "limit"),
    ],
)
def test_list_rejects_bad_filters_before_sending(make_hook, filters, field) -> None:
    with LocalServer(FakeJobs(1)) as server, pytest.raises(MetaStudioValidationError) as excinfo:
        make_hook(server.base_url).list_training_jobs(**filters)
    assert excinfo.value.field == field
    assert server.requests == []


def test_jobs_drop_urls_and_personal_data_but_keep_unknown_fields(make_hook) -> None:
    with LocalServer(FakeJobs(1)) as server:
        (job,) = make_hook(server.base_url).list_training_jobs()
    assert job.extra == {"brand_new_field": {"x": 1}}
    assert "contact" not in job.to_dict()
    assert "cover_download_url" not in str(job.to_dict()) + repr(job)


def test_get_training_job_and_latest_review_failure(make_hook) -> None:
    detail = _job(7) | {
        "operation_logs": [
            {"operate_time": "2026-11-01T00:00:00Z", "log_type": "USER_CREATE_JOD", "operate_user": "USER"},
            {
                "operate_time": "2026-11-02T00:00:00Z",
                "log_type": "SYSTEM_VERIFY_FAILED",
                "log_description": "resolution 1280x720 not accepted",
                "error_code": "44005901",
                "operate_user": "SYSTEM",
            },
            {"operate_time": "2026-11-03T00:00:00Z", "log_type": "USER_VERIFYING_SUBMITTED"},
            {
                "operate_time": "2026-11-04T00:00:00Z",
                "log_type": "ADMIN_VERIFY_FAILED",
                "log_description": "ID card photo has glare",
                "operate_user": "ADMIN",
            },
        ]
    }
    with LocalServer(lambda request: Reply(200, detail), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        job = make_hook(server.base_url).get_training_job(f"{7:032x}")
    assert server.requests[0].path == f"{JOBS}/{7:032x}" and server.requests[0].signature_ok
    failure = latest_review_failure(job)
    assert failure is not None
    assert (failure.log_type, failure.reason, failure.error_code) == (
        "ADMIN_VERIFY_FAILED",
        "ID card photo has glare",
        None,
    )


def test_update_validates_sends_and_returns_every_upload_url(make_hook) -> None:
    answer = {
        "job_id": "f" * 32,
        "training_video_upload_url": [f"http://obs.local/upload/v{i}?Signature=s{i}" for i in (1, 2, 3)],
        "audio_upload_url": "http://obs.local/upload/audio?Signature=a",
        "cover_upload_url": "http://obs.local/upload/cover?Signature=c",
        "id_card_image1_upload_url": "http://obs.local/upload/id1?Signature=i1",
        "id_card_image2_upload_url": "http://obs.local/upload/id2?Signature=i2",
        "grant_file_upload_url": "http://obs.local/upload/grant?Signature=g",
    }
    body = {
        "name": "avatar-fixed",
        "video_multipart_count": 3,
        "voice_properties": {"job_tag": "NEWS", "sex": "FEMALE", "language": "CN"},
    }
    with LocalServer(lambda request: Reply(200, answer), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        urls = make_hook(server.base_url).update_training_job("f" * 32, body)

    (request,) = server.requests
    assert (request.method, request.path, request.json, request.signature_ok) == (
        "PUT",
        f"{JOBS}/{'f' * 32}",
        body,
        True,
    )
    assert [t.label for t in urls.targets] == [
        "training_video part 1/3",
        "training_video part 2/3",
        "training_video part 3/3",
        "audio",
        "cover",
        "id_card_front",
        "id_card_back",
        "authorization_letter",
    ]
    assert urls.for_asset("audio")[0].content_type == "application/zip"
    assert urls.for_asset("training_video")[1].url == answer["training_video_upload_url"][1]
    assert "Signature" not in repr(urls) and urls.request_id == "req-1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"video_multipart_count": 0}, "video_multipart_count"),
        ({"video_multipart_count": 1001}, "video_multipart_count"),
        ({"name": ""}, "name"),
        ({"command_message": "REDO"}, "command_message"),
        ({"voice_properties": {"job_tag": "NEWS", "sex": "OTHER", "language": "CN"}}, "voice_properties.sex"),
        ({"voice_properties": {"job_tag": "NEWS", "sex": "MALE"}}, "voice_properties.language"),
        ({"tags": "not-a-list"}, "tags"),
        ({"nmae": "typo"}, "nmae"),
        ({"is_background_replacement": "yes"}, "is_background_replacement"),
    ],
)
def test_update_rejects_invalid_bodies_without_sending(make_hook, body, field) -> None:
    with LocalServer(lambda request: Reply(200, {})) as server, pytest.raises(MetaStudioValidationError) as excinfo:
        make_hook(server.base_url).update_training_job("a" * 32, body)
    assert excinfo.value.field == field
    assert field.split(".")[-1] in str(excinfo.value)
    assert server.requests == []


def test_execute_command_success_and_multipart_info(make_hook) -> None:
    answer = {
        "commond_result": "EXCUTE_SUCCESS",
        "multipart_data": [{"part_number": "2", "etag": "e2"}, {"part_number": "1", "etag": "e1"}],
    }
    with LocalServer(lambda request: Reply(200, answer), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        result = make_hook(server.base_url).execute_command("a" * 32, "GET_MULTIPART_UPLOADED")
    assert server.requests[0].json == {"command": "GET_MULTIPART_UPLOADED"}
    assert server.requests[0].path.endswith("/command") and server.requests[0].signature_ok
    assert [(p.part_number, p.etag) for p in result.multipart_data] == [(1, "e1"), (2, "e2")]


def test_execute_command_failure_inside_a_200_raises(make_hook) -> None:
    answer = {
        "commond_result": "EXCUTE_FAILED",
        "excute_failed_msg": "training video parts missing: 3",
        "error_info": {"error_code": "MSS.00000007", "error_msg": "parts missing"},
    }
    with LocalServer(lambda request: Reply(200, answer)) as server:
        with pytest.raises(MetaStudioCommandFailedError) as excinfo:
            make_hook(server.base_url).execute_command("a" * 32, "CONFIRM_MULTIPART_UPLOADED")
    error = excinfo.value
    assert (error.status, error.error_code, error.error_msg) == (200, "MSS.00000007", "training video parts missing: 3")
    assert error.is_mss and error.request_id == "req-1"
    assert len(server.requests) == 1  # a refused command is not retried


def test_unknown_command_is_rejected_locally(make_hook) -> None:
    with LocalServer(lambda request: Reply(200, {})) as server:
        with pytest.raises(MetaStudioValidationError, match="command"):
            make_hook(server.base_url).execute_command("a" * 32, "SUBMIT_VERIFYING")
    assert server.requests == []


def test_create_and_delete(make_hook) -> None:
    def respond(request: Recorded) -> Reply:
        if request.method == "POST":
            return Reply(200, {"job_id": "c" * 32, "training_video_upload_url": ["http://obs.local/upload/1?s=1"]})
        return Reply(200, body=b"")

    with LocalServer(respond, verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        hook = make_hook(server.base_url)
        created = hook.create_training_job({"name": "new avatar", "video_multipart_count": 1})
        request_id = hook.delete_training_job(created.job_id)
    assert created.job_id == "c" * 32 and [t.label for t in created.targets] == ["training_video part 1/1"]
    assert [r.method for r in server.requests] == ["POST", "DELETE"]
    assert all(r.signature_ok for r in server.requests) and request_id == "req-2"


def test_wrong_secret_key_is_refused_by_the_server(make_hook) -> None:
    with LocalServer(FakeJobs(1), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        hook = make_hook(server.base_url, password="not-the-secret-key")
        with pytest.raises(MetaStudioAuthError) as excinfo:
            hook.list_training_jobs()
    assert excinfo.value.error_code == "APIGW.0301" and not excinfo.value.is_mss
    assert len(server.requests) == 1  # 401 is never retried


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(200, body=b"<html>gateway</html>"), "not JSON"),
        (Reply(200, [1, 2]), "not a JSON object"),
        (Reply(200, {"count": "3", "jobs": []}), "integer 'count'"),
        (Reply(200, {"count": 1, "jobs": [{"job_id": "x"}]}), "without a 'state'"),
    ],
)
def test_malformed_success_responses_raise_clear_errors(make_hook, reply, message) -> None:
    with LocalServer(lambda request: reply) as server:
        with pytest.raises(MetaStudioInvalidResponseError, match=message) as excinfo:
            make_hook(server.base_url).list_training_jobs()
    assert excinfo.value.request_id == "req-1"


def test_extras_are_never_sent_as_headers_and_app_user_id_is(make_hook) -> None:
    with LocalServer(FakeJobs(0), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        make_hook(server.base_url, app_user_id="tenant-user-42", read_timeout=30).list_training_jobs()
    request = server.requests[0]
    assert request.header("X-App-UserId") == "tenant-user-42"
    assert "x-app-userid" in request.header("Authorization")
    names = {name.lower() for name in request.headers}
    assert not names & {"project_id", "read_timeout", "app_user_id", "auth_method"}


def test_http_operator_style_run_goes_through_signing(make_hook) -> None:
    with LocalServer(FakeJobs(2), verify=make_verifier(ACCESS_KEY, SECRET_KEY)) as server:
        hook = make_hook(server.base_url)
        response = hook.run(f"{JOBS}", data={"limit": 10, "offset": 0})
        ok, message = hook.test_connection()
    assert response.json()["count"] == 2
    assert all(r.signature_ok for r in server.requests)
    assert ok and "2 training job(s)" in message
