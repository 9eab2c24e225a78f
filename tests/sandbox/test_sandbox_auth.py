"""Gateway auth: SDK-HMAC-SHA256 verified independently, clock skew, fake IAM tokens, no secret echoes."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sandbox_helpers import AK, JOBS_PATH, PROJECT, SK, Api

from metastudio_sandbox.auth import AkSkVerifier, ReceivedRequest, canonical_query

IAM_BODY = {
    "auth": {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"domain": {"name": "sandbox-domain"}, "name": "sandbox-user", "password": "sandbox-password"}
            },
        },
        "scope": {"project": {"name": "cn-north-4"}},
    }
}


@pytest.mark.parametrize(
    ("method", "body", "signature"),
    [
        ("GET", b"", "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"),
        ("POST", b'{"name":"test","id":1}', "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"),
    ],
)
def test_verifier_accepts_the_sdk_test_vectors(method: str, body: bytes, signature: str) -> None:
    headers = {
        "host": "service.endpoint.myhuaweicloud.com",
        "x-sdk-date": "20200608T023900Z",
        "test_underscore": "TEST_VALUE",
        "authorization": f"SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature={signature}",
    }
    request = ReceivedRequest(method, "/resources", "size=1", headers, body)
    sent = datetime(2020, 6, 8, 2, 39, tzinfo=timezone.utc).timestamp()
    AkSkVerifier("AccessKey", "SecretKey", 900).verify(request, now=sent)


def test_canonical_query_matches_the_sdk_vector() -> None:
    raw = "test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29&limit=1&enable=true&path=%2Ftmp%2F123&multi=3&multi=1&multi=2"
    assert canonical_query(raw) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


def test_signed_request_with_query_and_body_is_accepted(api: Api) -> None:
    answer = api.list(state="AUTO_VERIFY_FAILED,MANUAL_VERIFY_FAILED", limit=2, is_flexus=False)
    assert answer.status_code == 200, answer.text
    assert api.admin("GET", "/requests").json()["requests"][-1]["auth"] == "aksk"


@pytest.mark.parametrize(
    "tamper",
    ["signature", "body", "query", "path", "signed_header_value", "unknown_ak", "missing_host_in_signed"],
)
def test_tampered_requests_are_refused(api: Api, tamper: str) -> None:
    job_id = api.job_ids_in("AUTO_VERIFY_FAILED")[0]
    url, headers, body = api.signed_parts(
        "PUT", f"{JOBS_PATH}/{job_id}", body={"name": "a"}, headers={"X-App-UserId": "user-1"}
    )
    if tamper == "signature":
        headers["Authorization"] = headers["Authorization"][:-4] + "0000"
    elif tamper == "body":
        body = b'{"name": "b"}'
    elif tamper == "query":
        url += "?extra=1"
    elif tamper == "path":
        url = url.replace(job_id, api.job_ids_in("AUTO_VERIFY_FAILED")[1])
    elif tamper == "signed_header_value":
        headers["X-App-UserId"] = "user-2"
    elif tamper == "unknown_ak":
        headers["Authorization"] = headers["Authorization"].replace(f"Access={AK}", "Access=someone-else")
    elif tamper == "missing_host_in_signed":
        headers["Authorization"] = headers["Authorization"].replace("host;", "")
    answer = requests.put(url, data=body, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "APIGW.0301"
    assert SK not in answer.text
    assert headers["Authorization"].rsplit("=", 1)[-1] not in answer.text
    assert api.show(job_id).json()["name"] != "b"


def test_missing_credentials_and_project_header(api: Api) -> None:
    bare = requests.get(api.base + JOBS_PATH, timeout=5)
    assert (bare.status_code, bare.json()["error_code"]) == (401, "APIGW.0301")
    url, headers, _ = api.signed_parts("GET", JOBS_PATH)
    headers["X-Project-Id"] = "f" * 32
    answer = requests.get(url, headers=headers, timeout=5)
    assert (answer.status_code, answer.json()["error_code"]) == (401, "APIGW.0301")


def test_path_project_must_be_the_configured_one(api: Api) -> None:
    answer = api.call("GET", JOBS_PATH.replace(PROJECT, "f" * 32))
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.00010009")


@pytest.mark.parametrize("minutes", [-16, 16])
def test_clock_skew_is_refused(api: Api, minutes: int) -> None:
    date = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
    answer = api.call("GET", JOBS_PATH, headers={"X-Sdk-Date": date})
    assert (answer.status_code, answer.json()["error_code"]) == (401, "APIGW.0303")
    near = (datetime.now(timezone.utc) + timedelta(minutes=minutes // 2)).strftime("%Y%m%dT%H%M%SZ")
    assert api.call("GET", JOBS_PATH, headers={"X-Sdk-Date": near}).status_code == 200


def test_unsigned_payload_header_is_honoured(api: Api) -> None:
    answer = api.call("POST", JOBS_PATH, body={"name": "u"}, headers={"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    assert answer.status_code == 200, answer.text


def test_token_auth_and_expiry(api: Api) -> None:
    issued = requests.post(f"{api.base}/v3/auth/tokens?nocatalog=true", json=IAM_BODY, timeout=5)
    assert issued.status_code == 201
    token = issued.headers["X-Subject-Token"]
    body = issued.json()["token"]
    assert body["expires_at"].endswith("Z") and body["issued_at"].endswith("Z")
    assert "catalog" not in body
    listed = requests.get(api.base + JOBS_PATH, headers={"X-Auth-Token": token}, timeout=5)
    assert listed.status_code == 200
    assert api.admin("GET", "/requests").json()["requests"][-1]["auth"] == "token"

    api.admin("PATCH", "/settings", json={"token_ttl": 0.3})
    short = requests.post(f"{api.base}/v3/auth/tokens", json=IAM_BODY, timeout=5).headers["X-Subject-Token"]
    time.sleep(0.5)
    expired = requests.get(api.base + JOBS_PATH, headers={"X-Auth-Token": short}, timeout=5)
    assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0301")
    assert "expired" in expired.json()["error_msg"]
    assert short not in expired.text


def test_forged_token_is_refused(api: Api) -> None:
    token = requests.post(f"{api.base}/v3/auth/tokens", json=IAM_BODY, timeout=5).headers["X-Subject-Token"]
    forged = token[:-6] + hashlib.sha256(b"x").hexdigest()[:6]
    answer = requests.get(api.base + JOBS_PATH, headers={"X-Auth-Token": forged}, timeout=5)
    assert answer.status_code == 401


def test_iam_refuses_wrong_password_and_bad_body(api: Api) -> None:
    wrong = {
        "auth": {
            **IAM_BODY["auth"],
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"domain": {"name": "sandbox-domain"}, "name": "sandbox-user", "password": "guess"}
                },
            },
        }
    }
    answer = requests.post(f"{api.base}/v3/auth/tokens", json=wrong, timeout=5)
    assert answer.status_code == 401
    assert "X-Subject-Token" not in answer.headers
    assert "guess" not in answer.text
    bad = requests.post(f"{api.base}/v3/auth/tokens", json={"auth": {}}, timeout=5)
    assert bad.status_code == 400
