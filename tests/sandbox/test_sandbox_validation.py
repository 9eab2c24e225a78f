"""Bodies and queries are checked against the documented fields, types, enums and ranges."""

from __future__ import annotations

import pytest
from sandbox_helpers import JOBS_PATH, Api


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "a", "colour": "red"}, "colour"),
        ({"name": "a", "video_multipart_count": 0}, "video_multipart_count"),
        ({"name": "a", "video_multipart_count": 1001}, "video_multipart_count"),
        ({"name": "a", "video_multipart_count": "2"}, "video_multipart_count"),
        ({"name": "a", "video_multipart_count": True}, "video_multipart_count"),
        ({"name": "a", "is_flexus": "true"}, "is_flexus"),
        ({"name": "a", "model_version": "V9"}, "model_version"),
        ({"name": "a", "tags": "news"}, "tags"),
        ({"name": "a", "supported_service": ["VIDEO_3D"]}, "supported_service[0]"),
        ({"name": "a", "voice_properties": {"job_tag": "NEWS", "sex": "MALE"}}, "voice_properties.language"),
        ({"name": "a", "contact": "1" * 65}, "contact"),
        ([], "body"),
    ],
)
def test_create_rejects_bad_bodies_naming_the_field(api: Api, body: object, field: str) -> None:
    answer = api.create(body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "MSS.00000003"
    assert field in answer.json()["error_msg"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model_version": "V3.2"}, "model_version"),  # a Create-only field
        ({"samples_basic_info": [{"action_name_en": "wave"}]}, "samples_basic_info[0].action_tag"),
        (
            {"samples_basic_info": [{"action_tag": "t", "recommended_value": 101}]},
            "samples_basic_info[0].recommended_value",
        ),
        ({"command_message": "DO_IT"}, "command_message"),
    ],
)
def test_update_rejects_bad_bodies(api: Api, body: dict[str, object], field: str) -> None:
    answer = api.update(api.job_ids_in("AUTO_VERIFY_FAILED")[0], body)
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.00000003")
    assert field in answer.json()["error_msg"]


def test_command_rejects_unknown_command(api: Api) -> None:
    answer = api.command(api.job_ids_in("AUTO_VERIFY_FAILED")[0], "REBOOT")
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.00000003")
    assert "command" in answer.json()["error_msg"]


def test_malformed_json_is_refused(api: Api) -> None:
    answer = api.call("POST", JOBS_PATH, body=b"{not json")
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.10000002")


def test_update_outside_verify_failed_states(api: Api) -> None:
    for state in ("JOB_SUCCESS", "TRAINING", "WAIT_FILE_UPLOAD", "AUTO_VERIFYING"):
        answer = api.update(api.job_ids_in(state)[0], {"name": "x"})
        assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.10002002"), state
        assert state in answer.json()["error_msg"]


def test_unknown_job_is_not_found(api: Api) -> None:
    for answer in (
        api.show("a" * 32),
        api.update("a" * 32, {}),
        api.delete("a" * 32),
        api.command("a" * 32, "SUBMITVERIFYING"),
    ):
        assert (answer.status_code, answer.json()["error_code"]) == (404, "MSS.10002001")


def test_delete_only_in_documented_states(api: Api) -> None:
    answer = api.delete(api.job_ids_in("TRAINING")[0])
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.10002002")
    job_id = api.job_ids_in("JOB_SUCCESS")[0]
    assert api.delete(job_id).status_code == 200
    assert api.show(job_id).status_code == 404


def test_na_only_commands_fail_in_the_body(api: Api) -> None:
    answer = api.command(api.job_ids_in("JOB_SUCCESS")[0], "CONFIRM_ACCEPT")
    assert answer.status_code == 200
    assert answer.json()["commond_result"] == "EXCUTE_FAILED"
    assert answer.json()["error_info"]["error_code"] == "MSS.10002003"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": "x"}, "offset"),
        ({"sort_key": "name"}, "sort_key"),
        ({"sort_dir": "up"}, "sort_dir"),
        ({"create_since": "2025-01-01"}, "create_since"),
        ({"is_flexus": "yes"}, "is_flexus"),
    ],
)
def test_list_query_validation(api: Api, query: dict[str, object], field: str) -> None:
    answer = api.list(**query)
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.00000003")
    assert field in answer.json()["error_msg"]


def test_list_filters_paging_and_sorting(api: Api) -> None:
    everything = api.list(limit=100).json()
    assert everything["count"] == 9
    times = [job["create_time"] for job in everything["jobs"]]
    assert times == sorted(times)
    newest_first = api.list(limit=100, sort_dir="desc", sort_key="create_time").json()["jobs"]
    assert [job["job_id"] for job in newest_first] == [job["job_id"] for job in reversed(everything["jobs"])]
    page = api.list(limit=2, offset=2).json()
    assert page["count"] == 9
    assert [job["job_id"] for job in page["jobs"]] == [job["job_id"] for job in everything["jobs"][2:4]]
    assert api.list(batch_name="spring-campaign").json()["count"] == 2
    assert api.list(tag="news").json()["count"] == 1
    assert api.list(name="Anchor").json()["count"] == 2  # substring match
    assert api.list(is_flexus=True).json()["count"] == 1
    assert api.list(model_resolution="4K").json()["count"] == 1
    job_id = everything["jobs"][0]["job_id"]
    assert [job["job_id"] for job in api.list(job_id=job_id).json()["jobs"]] == [job_id]
    middle = everything["jobs"][4]["create_time"]
    since = api.list(create_since=middle, limit=100).json()["jobs"]
    assert all(job["create_time"] >= middle for job in since) and len(since) == 5
    until = api.list(update_until=middle, limit=100).json()["jobs"]
    assert all(job["last_update_time"] <= middle for job in until)
    assert api.list(query_project_id="f" * 32).json()["count"] == 0
    by_update = api.list(sort_key="update_time", limit=100).json()["jobs"]
    assert [job["last_update_time"] for job in by_update] == sorted(job["last_update_time"] for job in by_update)


def test_flexus_jobs_support_only_video_2d(api: Api) -> None:
    job_id = api.create({"name": "flexus avatar", "is_flexus": True}).json()["job_id"]
    api.admin("PUT", f"/jobs/{job_id}/state", json={"state": "AUTO_VERIFY_FAILED"}).raise_for_status()
    refused = api.update(job_id, {"supported_service": ["VIDEO_2D", "LIVE_2D"]})
    assert (refused.status_code, refused.json()["error_code"]) == (400, "MSS.00000003")
    assert "supported_service" in refused.json()["error_msg"] and "Flexus" in refused.json()["error_msg"]
    assert api.update(job_id, {"supported_service": ["VIDEO_2D"]}).status_code == 200
