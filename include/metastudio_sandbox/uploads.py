"""Presigned OBS-like URLs served by the sandbox itself: streaming single-use uploads, and downloads.

URL shape: ``{base}/_obs/upload/{url_id}?Expires={epoch}&Signature={b64}`` where the signature is an
HMAC-SHA256 over ``METHOD\\npath\\nexpires`` with the server secret. The upload handler is raw ASGI
(not a FastAPI route) so a 1 GiB body goes from the socket to disk in large chunks without
Starlette's per-chunk overhead, and is hashed on the way.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import hmac
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
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
from metastudio_sandbox.pacing import Pacer, mbps_to_bytes_per_second
from metastudio_sandbox.settings import Settings
from metastudio_sandbox.store import URL_ACTIVE, URL_USED, FileRecord, Store

UPLOAD_PREFIX = "/_obs/upload/"
DOWNLOAD_PREFIX = "/_obs/download/"
READ_CHUNK = 1024 * 1024
WRITE_BATCH = 8 * 1024 * 1024

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
    """Hashes and writes a body on a worker thread, so the event loop only moves bytes.

    SHA-256 (1.7 GB/s here) and the page-cache copy cost about as much CPU as receiving; on a
    2-core machine that work has to run beside the event loop to reach 500 MB/s. ``on_pressure``
    is called on the loop with True when more than HIGH_WATER bytes wait, False once drained.
    """

    HIGH_WATER = 64 * 1024 * 1024
    LOW_WATER = 16 * 1024 * 1024

    def __init__(self, path: Path, on_pressure: Callable[[bool], None]) -> None:
        self.path = path
        self.received = 0
        self._loop = asyncio.get_running_loop()
        self._on_pressure = on_pressure
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._paused = False
        self._aborted = False
        self._result: concurrent.futures.Future[tuple[int, str]] = concurrent.futures.Future()
        threading.Thread(target=self._work, name="sandbox-upload", daemon=True).start()

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self._queue.put(chunk)
        with self._lock:
            self._pending += len(chunk)
            pause = not self._paused and self._pending > self.HIGH_WATER
            self._paused = self._paused or pause
        if pause:
            self._on_pressure(True)

    async def finish(self) -> tuple[int, str]:
        """Wait for every byte to be on disk; returns (size, sha256 hex)."""
        self._queue.put(None)
        return await asyncio.wrap_future(self._result)

    def discard(self) -> None:
        """Abandon the upload; the worker deletes the partial file."""
        self._aborted = True
        self._queue.put(None)

    def _batches(self) -> Iterator[list[bytes]]:
        """Chunks in batches of whatever is already queued (up to WRITE_BATCH bytes), until the end."""
        while (chunk := self._queue.get()) is not None:
            batch, size = [chunk], len(chunk)
            while size < WRITE_BATCH:
                try:
                    chunk = self._queue.get_nowait()
                except queue.Empty:
                    break
                if chunk is None:
                    yield batch
                    return
                batch.append(chunk)
                size += len(chunk)
            yield batch

    def _work(self) -> None:
        digest = hashlib.sha256()
        size = 0
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for batch in self._batches():
                    if self._aborted:
                        break
                    for chunk in batch:
                        digest.update(chunk)
                    written = sum(len(chunk) for chunk in batch)
                    _write_all(fd, batch, written)
                    size += written
                    self._drained(written)
            finally:
                os.close(fd)
        except OSError as exc:
            self._aborted = True
            self._result.set_exception(exc)
        if self._aborted:
            self.path.unlink(missing_ok=True)
            if not self._result.done():
                self._result.set_exception(ConnectionAbortedError("upload abandoned"))
            return
        self._result.set_result((size, digest.hexdigest()))

    def _drained(self, count: int) -> None:
        with self._lock:
            self._pending -= count
            resume = self._paused and self._pending < self.LOW_WATER
            self._paused = self._paused and not resume
        if resume:
            self._loop.call_soon_threadsafe(self._on_pressure, False)


def _write_all(fd: int, batch: list[bytes], total: int) -> None:
    """One writev per batch (fewer syscalls than a write per chunk, no joining copy)."""
    done = os.writev(fd, batch)
    if done < total:  # short write: finish the rest plainly
        rest = memoryview(b"".join(batch))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


class _ReadGate:
    """Stops reading a transport while any reason holds (disk back-pressure, the rate limit)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._reasons: set[str] = set()

    def hold(self, reason: str, held: bool) -> None:
        was_held = bool(self._reasons)
        if held:
            self._reasons.add(reason)
        else:
            self._reasons.discard(reason)
        if self._transport.is_closing() or was_held == bool(self._reasons):
            return
        if self._reasons:
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()


class _BodyReader(asyncio.Protocol):
    """Takes over the connection's transport while a large body streams in (uvicorn httptools only).

    uvicorn's own path copies every chunk into a bytearray and through one ASGI message per 64 KiB;
    reading the socket's chunks directly roughly halves the event loop's work per byte.
    """

    def __init__(
        self, sink: _Sink, length: int, limit: int | None, pacer: Pacer | None = None, gate: _ReadGate | None = None
    ) -> None:
        self.sink = sink
        self.remaining = length
        self.limit = limit
        self.pacer = pacer
        self.gate = gate
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[str] = self._loop.create_future()
        self.lost: Exception | None = None

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        if len(data) > self.remaining:
            data = data[: self.remaining]  # anything after the body would be a pipelined request
        if self.limit is not None and self.sink.received + len(data) >= self.limit:
            self.sink.feed(data[: self.limit - self.sink.received])
            self.done.set_result("limit")
            return
        self.sink.feed(data)
        self.remaining -= len(data)
        wait = self.pacer.take(len(data), self._loop.time()) if self.pacer is not None else 0.0
        if self.remaining == 0:
            self.done.set_result("complete")  # the handler waits out the last chunk's time
        elif wait > 0 and self.gate is not None:
            self.gate.hold("rate", True)
            self._loop.call_later(wait, self.gate.hold, "rate", False)

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result("lost")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc
        if not self.done.done():
            self.done.set_result("lost")


class UploadHandler:
    """ASGI handler for ``PUT /_obs/upload/{url_id}``.

    With ``settings.upload_rate_mbps`` > 0 each body is read no faster than that rate (one
    :class:`Pacer` per request, i.e. per connection), and the answer waits until the last byte
    would have crossed such a link; ``x-sandbox-upload-seconds`` reports the time from the start
    of the body to the answer.
    """

    def __init__(self, store: Store, signer: UrlSigner, settings: Settings) -> None:
        self.store = store
        self.signer = signer
        self.settings = settings

    def _pacer(self) -> Pacer | None:
        mbps = self.settings.upload_rate_mbps
        if mbps <= 0:
            return None
        return Pacer(mbps_to_bytes_per_second(mbps), asyncio.get_running_loop().time())

    async def __call__(self, scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        try:
            url_id, content_type, length = self._admit(scope, headers)
        except ApiError as error:
            await send_bytes(
                send, error.status, error.body(scope.get("sandbox.request_id")), {"content-type": "application/json"}
            )
            return
        record = self.store.get_url(url_id)
        assert record is not None  # checked by _admit
        # A mid-upload disconnect always happens before the last byte, whatever the body size.
        limit = min(decision.disconnect_after, max(0, length - 1)) if decision.action == "disconnect" else None
        cycle = getattr(receive, "__self__", None)
        pacer = self._pacer()
        loop = asyncio.get_running_loop()
        started = loop.time()
        if type(cycle).__module__.endswith("httptools_impl") and cycle.more_body and not cycle.disconnected:
            outcome = await self._read_direct(cycle, length, limit, pacer)
        else:
            outcome = await self._read_asgi(receive, length, limit, pacer)
        sink, state = outcome
        if state != "complete":
            sink.discard()  # an aborted upload does not consume the URL
            if state == "limit":
                await drop_connection(receive)
            return
        if pacer is not None:  # the last chunk, too, takes its time on the link
            await asyncio.sleep(pacer.take(0, loop.time()))
        size, sha256 = await sink.finish()
        etag = sha256[:32]  # MD5-sized; MD5 itself would halve the upload throughput
        file_record = FileRecord(
            record.job_id, record.asset, record.part, size, sha256, etag, content_type, time.time()
        )
        status = await asyncio.to_thread(self.store.complete_upload, url_id, sink.path, file_record)
        if status is not None:
            error = _status_error(status)
            await send_bytes(
                send, error.status, error.body(scope.get("sandbox.request_id")), {"content-type": "application/json"}
            )
            return
        seconds = f"{loop.time() - started:.3f}"
        await send_bytes(
            send, 200, b"", {"etag": f'"{etag}"', "x-sandbox-sha256": sha256, "x-sandbox-upload-seconds": seconds}
        )

    async def _read_direct(self, cycle: Any, length: int, limit: int | None, pacer: Pacer | None) -> tuple[_Sink, str]:
        transport = cycle.transport
        http_protocol = transport.get_protocol()
        gate = _ReadGate(transport)
        sink = _Sink(self.store.new_temp_path(), lambda paused: gate.hold("disk", paused))
        reader = _BodyReader(sink, length, limit, pacer, gate)
        if cycle.waiting_for_100_continue:
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        buffered, cycle.body = bytes(cycle.body), bytearray()
        transport.set_protocol(reader)
        if buffered:
            reader.data_received(buffered)
        cycle.flow.resume_reading()
        if not transport.is_closing():
            transport.resume_reading()
        state = await reader.done
        transport.set_protocol(http_protocol)
        cycle.more_body = False
        cycle.keep_alive = False  # the HTTP parser never saw the body: answer, then close
        if state == "lost":
            http_protocol.connection_lost(reader.lost)
        return sink, state

    async def _read_asgi(
        self, receive: Receive, length: int, limit: int | None, pacer: Pacer | None
    ) -> tuple[_Sink, str]:
        """The portable path: ASGI messages (h11, small bodies already parsed by httptools)."""
        drained = asyncio.Event()
        drained.set()
        sink = _Sink(self.store.new_temp_path(), lambda paused: drained.clear() if paused else drained.set())
        loop = asyncio.get_running_loop()
        while sink.received < length:
            if limit is not None and sink.received >= limit:
                return sink, "limit"
            await drained.wait()
            message = await receive()
            if message["type"] == "http.disconnect":
                return sink, "lost"
            chunk = message.get("body", b"")
            if limit is not None and sink.received + len(chunk) >= limit:
                sink.feed(chunk[: limit - sink.received])
                return sink, "limit"
            if chunk:
                sink.feed(chunk)
                if pacer is not None:
                    await asyncio.sleep(pacer.take(len(chunk), loop.time()))
            if not message.get("more_body", False):
                break
        return sink, "complete" if sink.received == length else "lost"

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
            await send_bytes(
                send, error.status, error.body(scope.get("sandbox.request_id")), {"content-type": "application/json"}
            )
            return
        size = path.stat().st_size
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())],
            }
        )
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
