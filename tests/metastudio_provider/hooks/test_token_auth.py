"""IAM token auth: password token request, caching, refresh before expiry, one refresh on 401."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from metastudio_provider.auth import IamPasswordCredentials, IamTokenProvider
from metastudio_provider.exceptions import MetaStudioAuthError
from tests.support.fixtures import PROJECT_ID
from tests.support.local_server import LocalServer, Recorded, Reply

IAM_PASSWORD = "iam-Password-123!"


class FakeCloud:
    """IAM (`POST /v3/auth/tokens`) plus a MetaStudio list endpoint that checks X-Auth-Token."""

    def __init__(self, lifetime: timedelta = timedelta(hours=24), revoke_first_tokens: int = 0) -> None:
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.lifetime = lifetime
        self.revoke_first_tokens = revoke_first_tokens

    def __call__(self, request: Recorded) -> Reply:
        if request.path == "/v3/auth/tokens":
            body = request.json
            user = body["auth"]["identity"]["password"]["user"]
            if user["password"] != IAM_PASSWORD or body["auth"]["scope"] != {"project": {"id": PROJECT_ID}}:
                return Reply(401, {"error": {"code": 401, "message": "The username or password is wrong."}})
            token = f"MIITOKEN-{len(self.issued) + 1:04d}-" + "x" * 40
            self.issued.append(token)
            if len(self.issued) > self.revoke_first_tokens:
                self.valid.add(token)
            expires = (datetime.now(timezone.utc) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return Reply(
                201, {"token": {"expires_at": expires, "methods": ["password"]}}, headers={"X-Subject-Token": token}
            )
        if request.header("X-Auth-Token") not in self.valid:
            return Reply(401, {"error_code": "APIGW.0301", "error_msg": "token expired or invalid"})
        return Reply(200, {"count": 0, "jobs": []})


@pytest.fixture
def token_hook(make_hook):
    def make(server: LocalServer, **extra):
        return make_hook(
            server.base_url,
            login=None,
            password=IAM_PASSWORD,
            auth_method="token",
            iam_endpoint=server.base_url,
            domain_name="acme",
            user_name="airflow-bot",
            **extra,
        )

    return make


def test_token_is_fetched_once_and_reused(token_hook) -> None:
    cloud = FakeCloud()
    with LocalServer(cloud) as server:
        hook = token_hook(server)
        for _ in range(3):
            hook.list_training_jobs()
    token_requests = server.requests_to("/v3/auth/tokens")
    assert len(token_requests) == 1 and len(cloud.issued) == 1
    body = token_requests[0].json["auth"]
    assert body["identity"]["methods"] == ["password"]
    assert body["identity"]["password"]["user"] == {
        "domain": {"name": "acme"},
        "name": "airflow-bot",
        "password": IAM_PASSWORD,
    }
    api_requests = server.requests_to("/digital-human-training-manage/")
    assert {r.header("X-Auth-Token") for r in api_requests} == {cloud.issued[0]}
    assert all(r.header("Authorization") is None for r in api_requests)


def test_token_is_refreshed_before_it_expires(token_hook) -> None:
    cloud = FakeCloud(lifetime=timedelta(minutes=5))  # inside the 10-minute refresh margin
    with LocalServer(cloud) as server:
        hook = token_hook(server)
        hook.list_training_jobs()
        hook.list_training_jobs()
    assert len(cloud.issued) == 2


def test_refresh_uses_expires_at_with_a_clock() -> None:
    now = [datetime(2026, 11, 24, tzinfo=timezone.utc)]
    fetched: list[str] = []

    class FakeResponse:
        def __init__(self, token: str) -> None:
            self.headers = {"X-Subject-Token": token}
            self.body = b'{"token": {"expires_at": "2026-11-25T00:00:00.000000Z"}}'
            self.request_id = None

    def transport(url: str, body: dict) -> FakeResponse:
        fetched.append(url)
        return FakeResponse(f"token-{len(fetched)}")

    credentials = IamPasswordCredentials("https://iam.example", "acme", "bot", "pw", PROJECT_ID)
    provider = IamTokenProvider(credentials, transport, refresh_margin=timedelta(minutes=10), clock=lambda: now[0])
    assert provider.get_token() == "token-1"
    now[0] += timedelta(hours=23, minutes=49)
    assert provider.get_token() == "token-1"
    now[0] += timedelta(minutes=2)  # 9 minutes before expiry
    assert provider.get_token() == "token-2"
    assert fetched == ["https://iam.example/v3/auth/tokens?nocatalog=true"] * 2
    assert "pw" not in repr(provider) and "pw" not in repr(credentials)


def test_a_401_refreshes_the_token_once_and_succeeds(token_hook) -> None:
    cloud = FakeCloud(revoke_first_tokens=1)  # the first token is rejected by the API
    with LocalServer(cloud) as server:
        token_hook(server).list_training_jobs()
    assert len(cloud.issued) == 2
    assert [r.header("X-Auth-Token") for r in server.requests_to("/digital-human")] == cloud.issued


def test_a_second_401_is_an_auth_error_not_a_loop(token_hook, sleeps) -> None:
    cloud = FakeCloud(revoke_first_tokens=10)
    with LocalServer(cloud) as server, pytest.raises(MetaStudioAuthError) as excinfo:
        token_hook(server).list_training_jobs()
    assert len(cloud.issued) == 2 and excinfo.value.error_code == "APIGW.0301"
    assert IAM_PASSWORD not in str(excinfo.value) and cloud.issued[-1] not in str(excinfo.value)


def test_wrong_iam_password_is_a_clear_auth_error(make_hook) -> None:
    cloud = FakeCloud()
    with LocalServer(cloud) as server:
        hook = make_hook(
            server.base_url,
            login=None,
            password="wrong-password",
            auth_method="token",
            iam_endpoint=server.base_url,
            domain_name="acme",
            user_name="bot",
        )
        with pytest.raises(
            MetaStudioAuthError, match="iam_token failed: HTTP 401 401: The username or password is wrong"
        ):
            hook.list_training_jobs()
    assert server.requests_to("/digital-human") == []
