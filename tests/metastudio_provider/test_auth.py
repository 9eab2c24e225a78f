"""SDK-HMAC-SHA256 signing: Huawei's published vectors and a cross-check against Huawei's SDK."""

from __future__ import annotations

import json
import random
import string
from datetime import datetime, timezone

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from metastudio_provider.auth import (
    SdkHmacSha256Auth,
    SdkHmacSha256Signer,
    canonical_query_string,
    canonical_uri,
    host_header_value,
)

VECTOR_URL = "https://service.endpoint.myhuaweicloud.com/resources?size=1"
VECTOR_HEADERS = {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"}


def test_published_get_vector() -> None:
    signed = SdkHmacSha256Signer("AccessKey", "SecretKey").sign("GET", VECTOR_URL, VECTOR_HEADERS, None)
    assert signed.headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
        "Signature=cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
    )


def test_published_post_vector() -> None:
    body = b'{"name":"test","id":1}'
    signed = SdkHmacSha256Signer("AccessKey", "SecretKey").sign("POST", VECTOR_URL, VECTOR_HEADERS, body)
    assert signed.headers["Authorization"].endswith(
        "SignedHeaders=host;x-sdk-date, Signature=436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"
    )


def test_published_query_canonicalisation_vector() -> None:
    params = [("limit", 1), ("enable", True), ("test", "一 (&=?!#%.*)"), ("path", "/tmp/123"), ("multi", [1, 2, 3])]
    assert canonical_query_string(params) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


def test_canonical_uri_always_ends_with_slash() -> None:
    assert canonical_uri("/v1/p/jobs") == "/v1/p/jobs/"
    assert canonical_uri("/v1/p/jobs/") == "/v1/p/jobs/"
    assert canonical_uri("/a%20b/c") == "/a%20b/c/"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://metastudio.cn-north-4.myhuaweicloud.com/v1", "metastudio.cn-north-4.myhuaweicloud.com"),
        ("https://metastudio.example:443/v1", "metastudio.example"),
        ("http://127.0.0.1:80/v1", "127.0.0.1"),
        ("http://127.0.0.1:8089/v1", "127.0.0.1:8089"),
        ("https://user:pw@example.com:8443/", "example.com:8443"),
    ],
)
def test_host_header_keeps_only_non_default_ports(url: str, host: str) -> None:
    assert host_header_value(url) == host


def test_auth_sends_canonical_query_and_signs_project_and_date() -> None:
    fixed = datetime(2025, 1, 1, tzinfo=timezone.utc)
    auth = SdkHmacSha256Auth(SdkHmacSha256Signer("AK", "SK", clock=lambda: fixed), project_id="p-1")
    session = requests.Session()
    session.headers["Content-Type"] = "application/json"
    prepared = session.prepare_request(
        requests.Request(
            "GET",
            "http://127.0.0.1:8089/v1/p-1/jobs",
            params=[("state", "AUTO_VERIFY_FAILED,MANUAL_VERIFY_FAILED"), ("limit", 100), ("name", "a b")],
            auth=auth,
        )
    )
    assert prepared.url == (
        "http://127.0.0.1:8089/v1/p-1/jobs?limit=100&name=a%20b&state=AUTO_VERIFY_FAILED%2CMANUAL_VERIFY_FAILED"
    )
    assert prepared.headers["Host"] == "127.0.0.1:8089"
    assert prepared.headers["X-Sdk-Date"] == "20250101T000000Z"
    signed_headers = prepared.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-project-id", "x-sdk-date", "content-type", "user-agent"} <= set(signed_headers)
    assert not {"accept", "accept-encoding", "connection"} & set(signed_headers)


def _random_text(rng: random.Random, alphabet: str, low: int, high: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def test_signatures_match_huawei_sdk_on_random_requests() -> None:
    """500 random requests: our Authorization header equals the one huaweicloudsdkcore computes."""
    rng = random.Random(20261124)
    key_chars = string.ascii_letters + string.digits + "-_.~"
    value_chars = string.ascii_letters + string.digits + " -_.~!*'();:@&=+$,/?#[]%一二中文"
    for _ in range(500):
        ak, sk = _random_text(rng, string.ascii_uppercase, 8, 20), _random_text(rng, string.printable[:62], 16, 40)
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        port = rng.choice(["", ":8443", ":443"])
        host = "metastudio.cn-north-4.myhuaweicloud.com"
        # Segments start with a letter: "." and ".." segments are normalised away by any HTTP client.
        path = "/v1/" + "/".join(
            rng.choice(string.ascii_letters) + _random_text(rng, key_chars, 0, 11) for _ in range(rng.randint(1, 4))
        )
        params = [
            (_random_text(rng, string.ascii_lowercase + "_", 1, 10), _random_text(rng, value_chars, 0, 15))
            for _ in range(rng.randint(0, 5))
        ]
        body = "" if method in ("GET", "DELETE") else json.dumps({"name": _random_text(rng, value_chars, 0, 30)})
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "test",
            "X-Project-Id": _random_text(rng, string.hexdigits, 32, 32),
            "X-Sdk-Date": "20261124T010203Z",
        }
        if rng.random() < 0.5:
            headers["X-App-UserId"] = _random_text(rng, string.ascii_letters, 1, 20)

        prepared = requests.Request(method, f"https://{host}{port}{path}", params=params, data=body.encode()).prepare()
        ours = SdkHmacSha256Signer(ak, sk).sign(method, prepared.url, headers, body.encode())

        sdk_host = host if port in ("", ":443") else host + port
        sdk_request = SdkRequest(
            method=method,
            schema="https",
            host=sdk_host,
            resource_path=path,
            query_params=sorted(params),
            header_params=dict(headers),
            body=body,
        )
        theirs = Signer(BasicCredentials(ak, sk)).sign(sdk_request)
        assert ours.headers["Authorization"] == theirs.header_params["Authorization"], (method, path, params)
        sent_query = ours.url.partition("?")[2]
        assert sent_query == theirs.uri.partition("?")[2]
