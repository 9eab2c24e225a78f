"""The outermost ASGI layer, playing API Gateway: request ids, recording, throttling, faults, routing.

It runs before FastAPI so that injected drops can close the raw connection, throttled requests never
reach the app, and uploads bypass the framework on their fast path.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import MutableSequence
from typing import Any

from metastudio_sandbox.errors import ApiError
from metastudio_sandbox.faults import Faults
from metastudio_sandbox.uploads import (
    DOWNLOAD_PREFIX,
    UPLOAD_PREFIX,
    DownloadHandler,
    Receive,
    Scope,
    Send,
    UploadHandler,
    drop_connection,
    send_bytes,
)

JOBS_PATH = re.compile(r"^/v1/[^/]+/digital-human-training-manage/user/jobs(?:/(?P<job>[^/]+)(?P<cmd>/command)?)?/?$")
_JOB_OPERATIONS = {
    (False, False, "GET"): "list",
    (False, False, "POST"): "create",
    (True, False, "GET"): "show",
    (True, False, "PUT"): "update",
    (True, False, "DELETE"): "delete",
    (True, True, "POST"): "command",
}


def classify(method: str, path: str) -> str | None:
    """The operation name used by throttles, faults and the request log (None: not faultable)."""
    if path.startswith(UPLOAD_PREFIX):
        return "upload"
    if path.startswith(DOWNLOAD_PREFIX):
        return "download"
    if path.rstrip("/") == "/v3/auth/tokens" and method == "POST":
        return "token"
    match = JOBS_PATH.match(path)
    if match:
        return _JOB_OPERATIONS.get((match["job"] is not None, match["cmd"] is not None, method))
    return None


class Gateway:
    """ASGI app wrapping ``inner`` (the FastAPI app); uploads and downloads go straight to their handlers.

    Every request but the admin API's is appended to ``request_log`` (never with its query string).
    """

    def __init__(
        self,
        inner: Any,
        *,
        faults: Faults,
        uploads: UploadHandler,
        downloads: DownloadHandler,
        request_log: MutableSequence[dict[str, Any]],
    ) -> None:
        self.inner = inner
        self.faults = faults
        self.uploads = uploads
        self.downloads = downloads
        self.requests = request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope["sandbox.request_id"] = request_id
        operation = classify(scope["method"], scope["path"])
        entry: dict[str, Any] = {
            "time": time.time(),
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],  # never the query: presigned signatures live there
            "operation": operation,
            "status": None,
        }

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self._handle(scope, receive, send_with_id, operation)
        finally:
            entry["auth"] = scope.get("sandbox.auth")
            if "sandbox.dropped_status" in scope:
                entry["dropped_status"] = scope["sandbox.dropped_status"]  # handled, answer not sent
            if not scope["path"].startswith("/_sandbox/"):
                self.requests.append(entry)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, operation: str | None) -> None:
        if operation is None:
            await self.inner(scope, receive, send)
            return
        faults = self.faults
        throttled = faults.throttle(operation)
        if throttled is not None:
            await self._error(scope, send, throttled)
            return
        decision = faults.decide(operation)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.action == "drop" or (decision.action == "disconnect" and operation != "upload"):
            await drop_connection(receive)
            return
        if decision.error is not None:
            await self._error(scope, send, decision.error)
            return
        if decision.action == "drop_response":
            # The request is handled in full, then the answer is lost (a gateway timeout after the
            # backend did the work): the client cannot tell whether it happened.
            async def swallow(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    scope["sandbox.dropped_status"] = message["status"]

            await self._dispatch(scope, receive, swallow, operation, decision)
            await drop_connection(receive)
            return
        await self._dispatch(scope, receive, send, operation, decision)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, operation: str, decision: Any) -> None:
        if operation == "upload":
            await self.uploads(scope, receive, send, decision)
        elif operation == "download":
            await self.downloads(scope, receive, send, decision)
        else:
            await self.inner(scope, receive, send)

    @staticmethod
    async def _error(scope: Scope, send: Send, error: ApiError) -> None:
        headers = {"content-type": "application/json", **error.headers}
        await send_bytes(send, error.status, error.body(scope["sandbox.request_id"]), headers)
