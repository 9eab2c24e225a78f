"""What the MetaStudio app and the admin API both need from a FastAPI request: the base URL and authentication."""

from __future__ import annotations

import re
from urllib.parse import unquote

from fastapi import Request

from metastudio_sandbox.auth import ReceivedRequest
from metastudio_sandbox.core import Sandbox
from metastudio_sandbox.errors import MSS_PROJECT_MISMATCH, ApiError, invalid

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def base_url(sandbox: Sandbox, request: Request) -> str:
    """Where presigned URLs point: --public-url, else the host the client used."""
    return sandbox.base_url(f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}")


async def authenticate(sandbox: Sandbox, request: Request, project_id: str) -> bytes:
    """Verify the gateway credentials; return the body (already read for the signature)."""
    body = await request.body()
    scope = request.scope
    received = ReceivedRequest(
        method=scope["method"],
        raw_path=scope.get("raw_path", scope["path"].encode()).decode("utf-8", "replace"),
        raw_query=scope["query_string"].decode("utf-8", "replace"),
        headers={key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]},
        body=body,
    )
    scope["sandbox.auth"] = sandbox.authenticator.authenticate(received)
    if unquote(project_id) != sandbox.settings.project_id:
        raise ApiError(400, MSS_PROJECT_MISMATCH, "urlTenantId is not equal tokenTenantId")
    app_user_id = request.headers.get("x-app-userid")
    if app_user_id is not None and (not 1 <= len(app_user_id) <= 256 or _CJK.search(app_user_id)):
        raise invalid("X-App-UserId", "must be 1-256 characters without Chinese characters")
    return body
