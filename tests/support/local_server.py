"""A small programmable HTTP server on 127.0.0.1 for client tests.

Each test gives it a ``respond(request) -> Reply`` function. The server records every request
it receives (bodies of uploads are hashed while streaming, never kept), can drop connections
before answering or in the middle of an upload, and can verify SDK-HMAC-SHA256 signatures with
Huawei's own SDK code (see ``sdk_verifier``), independently of the client under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

CHUNK = 1024 * 1024


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    body_size: int = 0
    body_sha256: str = ""
    signature_ok: bool | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    read_then_drop: int | None = None  # uploads: read this many body bytes, then close


Responder = Callable[[Recorded], Reply]
Verifier = Callable[[Recorded], bool]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out or hang up are part of the tests, not errors worth printing."""


class LocalServer:
    """Threaded HTTP server; use as a context manager."""

    def __init__(self, respond: Responder, *, verify: Verifier | None = None, streamed_paths: str = "/upload") -> None:
        self.respond = respond
        self.verify = verify
        self.streamed_paths = streamed_paths
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, path_part: str) -> list[Recorded]:
        return [request for request in self.requests if path_part in request.path]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command, path=parts.path, query=parts.query, headers=dict(self.headers.items())
                )
                length = int(self.headers.get("Content-Length") or 0)
                streamed = parts.path.startswith(server.streamed_paths)
                if streamed:
                    reply = server.respond(recorded)  # decide before reading (drop mid-upload)
                    limit = length if reply.read_then_drop is None else min(length, reply.read_then_drop)
                    digest, received = hashlib.sha256(), 0
                    while received < limit:
                        chunk = self.rfile.read(min(CHUNK, limit - received))
                        if not chunk:
                            break
                        digest.update(chunk)
                        received += len(chunk)
                    recorded.body_size, recorded.body_sha256 = received, digest.hexdigest()
                    server._record(recorded)
                    if reply.read_then_drop is not None or reply.drop:
                        self._drop()
                        return
                else:
                    recorded.body = self.rfile.read(length) if length else b""
                    recorded.body_size = len(recorded.body)
                    recorded.body_sha256 = hashlib.sha256(recorded.body).hexdigest()
                    if server.verify is not None:
                        recorded.signature_ok = server.verify(recorded)
                    server._record(recorded)
                    if recorded.signature_ok is False:
                        reply = Reply(401, {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication"})
                    else:
                        reply = server.respond(recorded)
                    if reply.drop:
                        self._drop()
                        return
                self._send(reply)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def _send(self, reply: Reply) -> None:
                body = json.dumps(reply.json).encode() if reply.json is not None else reply.body
                self.send_response(reply.status)
                headers = {"X-Request-Id": f"req-{len(server.requests)}", **reply.headers}
                if reply.json is not None:
                    headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
