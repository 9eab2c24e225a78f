"""Presigned OBS-like URLs served by the sandbox itself: streaming single-use uploads, and downloads.

URL shape: ``{base}/_obs/upload/{url_id}?Expires={epoch}&Signature={b64}`` where the signature is an
HMAC-SHA256 over ``METHOD\\npath\\nexpires`` with the server secret. The upload handler is raw ASGI
(not a FastAPI route) so a 1 GiB body goes from the socket to disk in large chunks without
Starlette's per-chunk overhead, and is hashed on the way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from metastudio_sandbox.errors import (
    OBS_CONTENT_TYPE,
    OBS_EXPIRED,
    OBS_LENGTH_REQUIRED,
    OBS_METHOD,
    OBS_SIGNATURE,
    OBS_SUPERSEDED,
    OBS_USED,
    ApiError,
)
from metastudio_sandbox.faults import Decision
from metastudio_sandbox.store import URL_ACTIVE, URL_USED, FileRecord, Store

UPLOAD_PREFIX = "/_obs/upload/"
DOWNLOAD_PREFIX = "/_obs/download/"
WRITE_BUFFER = 4 * 1024 * 1024
READ_CHUNK = 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class UrlSigner:
    """Signs and checks the query of presigned URLs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __repr__(self) -> str:
        return "UrlSigner(<redacted>)"

    def signature(self, method: str, path: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{method}\n{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def url(self, base: str, method: str, path: str, expires: int) -> str:
        query = urlencode({"Expires": expires, "Signature": self.signature(method, path, expires)})
        return f"{base.rstrip('/')}{path}?{query}"

    def check(self, method: str, path: str, raw_query: str, now: float) -> None:
        params = parse_qs(raw_query)
        try:
            expires = int(params["Expires"][0])
            given = params["Signature"][0]
        except (KeyError, ValueError, IndexError):
            raise ApiError(403, OBS_SIGNATURE, "AccessDenied: Expires and Signature are required") from None
        if not hmac.compare_digest(given, self.signature(method, path, expires)):
            raise ApiError(403, OBS_SIGNATURE, "SignatureDoesNotMatch: the URL signature is not valid")
        if expires < now:
            raise ApiError(403, OBS_EXPIRED, "AccessDenied: the presigned URL has expired")


async def drop_connection(receive: Receive) -> None:
    """Close the client's socket without answering (uvicorn-specific: the receive channel's transport)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot reach the connection to drop it")
    transport.close()
    for _ in range(100):  # let connection_lost run so uvicorn does not try to send a 500
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


async def send_bytes(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _Sink:
    """Hashes and writes a body to a temp file. Large writes keep syscalls and copies few."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = hashlib.sha256()
        self.size = 0
        self._file = path.open("wb", buffering=WRITE_BUFFER)

    def write(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class UploadHandler:
    """ASGI handler for ``PUT /_obs/upload/{url_id}``."""

    def __init__(self, store: Store, signer: UrlSigner) -> None:
        self.store = store
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            url_id, content_type, length = self._admit(scope, headers)
        except ApiError as error:
            await send_bytes(send, error.status, error.body(scope.get("sandbox.request_id")), {
                "content-type": "application/json"})
            return
        record = self.store.get_url(url_id)
        assert record is not None  # checked by _admit
        sink = _Sink(self.store.new_temp_path())
        # A mid-upload disconnect always happens before the last byte, whatever the body size.
        limit = min(decision.disconnect_after, max(0, length - 1)) if decision.action == "disconnect" else None
        try:
            complete = await self._receive_body(receive, sink, length, limit)
        except BaseException:
            sink.discard()
            raise
        if not complete:
            sink.discard()  # an aborted upload does not consume the URL
            if limit is not None:
                await drop_connection(receive)
            return
        sink.close()
        sha256 = sink.sha256.hexdigest()
        etag = sha256[:32]  # MD5-sized; MD5 itself would halve the upload throughput
        file_record = FileRecord(
            record.job_id, record.asset, record.part, sink.size, sha256, etag, content_type, time.time()
        )
        status = await asyncio.to_thread(self.store.complete_upload, url_id, sink.path, file_record)
        if status is not None:
            error = _status_error(status)
            await send_bytes(send, error.status, error.body(scope.get("sandbox.request_id")), {
                "content-type": "application/json"})
            return
        await send_bytes(send, 200, b"", {"etag": f'"{etag}"', "x-sandbox-sha256": sha256})

    def _admit(self, scope: Scope, headers: dict[str, str]) -> tuple[str, str, int]:
        if scope["method"] != "PUT":
            raise ApiError(405, OBS_METHOD, "MethodNotAllowed: presigned upload URLs accept PUT only")
        path = scope["path"]
        self.signer.check("PUT", path, scope["query_string"].decode("latin-1"), time.time())
        url_id = path.removeprefix(UPLOAD_PREFIX)
        record = self.store.get_url(url_id)
        if record is None:
            raise ApiError(403, OBS_SIGNATURE, "AccessDenied: unknown upload URL")
        if record.status != URL_ACTIVE:
            raise _status_error(record.status)
        if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" not in headers:
            raise ApiError(411, OBS_LENGTH_REQUIRED, "MissingContentLength: send Content-Length, not chunked")
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != record.content_type:
            raise ApiError(
                400, OBS_CONTENT_TYPE, f"InvalidContentType: this URL needs Content-Type {record.content_type}"
            )
        return url_id, record.content_type, int(headers["content-length"])

    @staticmethod
    async def _receive_body(receive: Receive, sink: _Sink, length: int, limit: int | None) -> bool:
        """Stream the body into ``sink``; False if the client went away or ``limit`` bytes were read."""
        while sink.size < length:
            if limit is not None and sink.size >= limit:
                return False
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            if chunk:
                sink.write(chunk)
            if limit is not None and sink.size >= limit:
                return False
            if not message.get("more_body", False):
                break
        return sink.size == length


def _status_error(status: str) -> ApiError:
    if status == URL_USED:
        return ApiError(403, OBS_USED, "AccessDenied: this URL was already used by a successful upload")
    return ApiError(403, OBS_SUPERSEDED, "AccessDenied: this URL was replaced by a newer update or its job is gone")


class DownloadHandler:
    """ASGI handler for ``GET /_obs/download/{job_id}/{asset}``: the ``*_download_url`` fields of Show."""

    def __init__(self, store: Store, signer: UrlSigner) -> None:
        self.store = store
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
        try:
            if scope["method"] != "GET":
                raise ApiError(405, OBS_METHOD, "MethodNotAllowed: download URLs accept GET only")
            self.signer.check("GET", scope["path"], scope["query_string"].decode("latin-1"), time.time())
            job_id, _, asset = scope["path"].removeprefix(DOWNLOAD_PREFIX).partition("/")
            path = self.store.file_path(job_id, asset, 0)
            if not path.is_file():
                raise ApiError(404, OBS_SIGNATURE, "NoSuchKey: the file is gone")
        except ApiError as error:
            await send_bytes(send, error.status, error.body(scope.get("sandbox.request_id")), {
                "content-type": "application/json"})
            return
        size = path.stat().st_size
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]})
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
