"""Fixtures: one sandbox per session served over real HTTP, reset before every test, and clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmetastudio.v1 import MetaStudioClient
from sandbox_helpers import AK, PROJECT, REVIEW_DELAY, SK, Api

from metastudio_sandbox.server import SandboxServer, run_in_thread
from metastudio_sandbox.settings import Settings


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    settings = Settings(ak=AK, sk=SK, project_id=PROJECT, review_delay=REVIEW_DELAY)
    with run_in_thread(settings) as running:
        yield running


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    """The shared sandbox, back to the default scenario and default settings."""
    server.sandbox.reset()
    defaults = Settings()
    server.sandbox.update_settings(
        {name: getattr(defaults, name) for name in ("token_ttl", "url_ttl", "clock_skew", "upload_rate_mbps")}
        | {"review_delay": REVIEW_DELAY}
    )
    return server


@pytest.fixture
def api(sandbox: SandboxServer) -> Api:
    return Api(sandbox.url)


@pytest.fixture
def sdk_client(sandbox: SandboxServer) -> MetaStudioClient:
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    return (
        MetaStudioClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(AK, SK, PROJECT))
        .with_endpoints([sandbox.url])
        .build()
    )
