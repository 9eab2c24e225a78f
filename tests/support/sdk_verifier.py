"""Server-side SDK-HMAC-SHA256 check built on Huawei's own ``huaweicloudsdkcore`` Signer.

Given a request as the server received it, rebuild an ``SdkRequest`` from the received method,
path, query and the headers named in ``SignedHeaders``, let Huawei's Signer sign it with the
same ``X-Sdk-Date``, and compare. This shares no code with the client under test.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import parse_qsl

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from tests.support.local_server import Recorded

_AUTH = re.compile(r"^SDK-HMAC-SHA256 Access=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")


def sdk_signature(recorded: Recorded, access_key: str, secret_key: str, signed_headers: list[str]) -> str:
    """The Authorization value Huawei's SDK computes for ``recorded``."""
    headers = {name: recorded.header(name) or "" for name in signed_headers}
    request = SdkRequest(
        method=recorded.method,
        schema="http",
        host=recorded.header("Host"),
        resource_path=recorded.path,
        query_params=parse_qsl(recorded.query, keep_blank_values=True),
        header_params=headers,
        body=recorded.body or "",
    )
    signed = Signer(BasicCredentials(access_key, secret_key)).sign(request)
    return signed.header_params["Authorization"]


def make_verifier(access_key: str, secret_key: str, project_id: str | None = None):
    """A ``LocalServer`` verifier: True only for a correctly signed request from ``access_key``."""

    def verify(recorded: Recorded) -> bool:
        match = _AUTH.match(recorded.header("Authorization") or "")
        if not match or match.group(1) != access_key:
            return False
        signed_headers = match.group(2).split(";")
        if not {"host", "x-sdk-date"} <= set(signed_headers):
            return False
        if project_id is not None and (
            recorded.header("X-Project-Id") != project_id or "x-project-id" not in signed_headers
        ):
            return False
        expected = sdk_signature(recorded, access_key, secret_key, signed_headers)
        return hmac.compare_digest(expected, recorded.header("Authorization") or "")

    return verify
