"""The admin API: inspection, hand state changes, deletion, reset, scenarios, and the webhook sink."""

from __future__ import annotations

from sandbox_helpers import Api


def test_webhook_sink_records_posted_json(api: Api) -> None:
    alert = {"text": "2 jobs failed", "errors": [{"error_code": "MSS.10002002", "request_id": "abc"}]}
    assert api.admin("POST", "/webhooks/alerts", json=alert).status_code == 201
    api.admin("POST", "/webhooks/alerts", json={"text": "second"})
    api.admin("POST", "/webhooks/other", json={"text": "elsewhere"})
    calls = api.admin("GET", "/webhooks/alerts").json()["calls"]
    assert [call["body"] for call in calls] == [alert, {"text": "second"}]
    api.admin("DELETE", "/webhooks/alerts")
    assert api.admin("GET", "/webhooks/alerts").json()["calls"] == []
    assert len(api.admin("GET", "/webhooks/other").json()["calls"]) == 1


def test_inspect_shows_internal_state_files_and_urls(api: Api) -> None:
    job_id = api.job_ids_in("MANUAL_VERIFY_FAILED")[0]
    api.update(job_id, {"video_multipart_count": 2})
    item = api.admin("GET", f"/jobs/{job_id}").json()
    assert item["job"]["state"] == "MANUAL_VERIFY_FAILED"
    assert {record["asset"] for record in item["files"]} >= {"training_video", "id_card_image1", "grant_file"}
    assert all(len(record["sha256"]) == 64 for record in item["files"])
    assert [url["part"] for url in item["urls"] if url["asset"] == "training_video"] == [1, 2]
    assert item["internal"]["video_parts"] == 2
    assert "Signature" not in str(item["urls"])


def test_state_change_and_delete_by_hand(api: Api) -> None:
    job_id = api.job_ids_in("AUTO_VERIFY_FAILED")[0]
    moved = api.admin("PUT", f"/jobs/{job_id}/state", json={"state": "AUTO_VERIFYING"})
    assert moved.json()["job"]["state"] == "AUTO_VERIFYING"
    assert api.admin("PUT", f"/jobs/{job_id}/state", json={"state": "NAPPING"}).status_code == 400
    assert api.admin("DELETE", f"/jobs/{job_id}").status_code == 204
    assert api.show(job_id).status_code == 404
    assert api.admin("DELETE", f"/jobs/{job_id}").status_code == 404


def test_reset_and_scenario_loading(api: Api) -> None:
    api.create({"name": "temporary"})
    scenario = {
        "jobs": [
            {
                "name": "Only one",
                "state": "AUTO_VERIFY_FAILED",
                "create_time": "-2h",
                "assets": {"training_video": "mp4"},
                "history": [
                    {
                        "log_type": "SYSTEM_VERIFY_FAILED",
                        "at": "-1h",
                        "error_code": "44005901",
                        "log_description": "bad resolution",
                        "asset": "training_video",
                    }
                ],
            }
        ]
    }
    ids = api.admin("POST", "/reset", json=scenario).json()["job_ids"]
    assert len(ids) == 1 and len(ids[0]) == 32
    listed = api.list(limit=100).json()
    assert listed["count"] == 1
    shown = api.show(ids[0]).json()
    assert shown["operation_logs"][-1]["operate_user"] == "SYSTEM"
    assert shown["training_video_download_url"]
    extra = api.admin("POST", "/scenario", json={"jobs": [{"name": "Second", "state": "JOB_SUCCESS"}]})
    assert extra.status_code == 200
    assert api.list().json()["count"] == 2
    bad = api.admin("POST", "/scenario", json={"jobs": [{"name": "x", "state": "NOPE"}]})
    assert bad.status_code == 400 and "NOPE" in bad.json()["error_msg"]
    assert api.admin("POST", "/reset").json()["job_ids"]
    assert api.list(limit=100).json()["count"] == 9


def test_default_scenario_has_realistic_failures(api: Api) -> None:
    failed = [
        api.show(job_id).json()
        for state in ("AUTO_VERIFY_FAILED", "MANUAL_VERIFY_FAILED")
        for job_id in api.job_ids_in(state)
    ]
    assert len(failed) >= 3
    codes = {job["operation_logs"][-1]["error_code"] for job in failed}
    assert "44005901" in codes
    descriptions = " ".join(job["operation_logs"][-1]["log_description"] for job in failed)
    assert "人证不匹配" in descriptions and "not signed" in descriptions
    states = {item["job"]["state"] for item in api.admin("GET", "/jobs").json()["jobs"]}
    assert {"JOB_SUCCESS", "TRAINING", "WAIT_FILE_UPLOAD", "AUTO_VERIFYING", "MANUAL_VERIFYING"} <= states
    assert all(len(job_id) == 32 for job_id in (job["job_id"] for job in failed))


def test_request_log_has_no_query_strings(api: Api) -> None:
    api.list(state="JOB_SUCCESS")
    entry = api.admin("GET", "/requests").json()["requests"][-1]
    assert entry["operation"] == "list"
    assert "?" not in entry["path"]
    assert entry["status"] == 200
