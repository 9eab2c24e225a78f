"""A small programmable HTTP server on 127.0.0.1 for client tests, and a forwarding proxy.

Each test gives it a ``respond(request) -> Reply`` function. The server records every request
it receives (bodies of uploads are hashed while streaming, never kept), can drop connections
before answering or in the middle of an upload, and can verify SDK-HMAC-SHA256 signatures with
Huawei's own SDK code (see ``sdk_verifier``), independently of the client under test.

It can also answer the way a hostile or broken host does: headers dripped one byte at a time
(``drip_headers``), a chunked body that never ends (``endless_body``), a body without a length
(``chunked``). :class:`ForwardingProxy` is a tiny HTTP proxy that records what went through it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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
    drip_headers: float | None = None  # seconds between single bytes of the status line and headers
    endless_body: bool = False  # a chunked body that never ends (until the client hangs up, or 60 s)
    chunked: bool = False  # send ``body`` chunked, without a Content-Length


Responder = Callable[[Recorded], Reply]
Verifier = Callable[[Recorded], bool]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out or hang up are part of the tests, not errors worth printing."""


class LocalServer:
    """Threaded HTTP server; use as a context manager."""

    def __init__(
        self,
        respond: Responder,
        *,
        verify: Verifier | None = None,
        streamed_paths: str = "/upload",
        tls: tuple[str, str] | None = None,
    ) -> None:
        """``tls``: (certificate, key) PEM paths; the server then speaks HTTPS (see :func:`self_signed_certificate`)."""
        self.respond = respond
        self.verify = verify
        self.streamed_paths = streamed_paths
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

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
                headers = {"X-Request-Id": f"req-{len(server.requests)}", **reply.headers}
                if reply.json is not None:
                    headers.setdefault("Content-Type", "application/json")
                if reply.endless_body or reply.chunked:
                    headers["Transfer-Encoding"] = "chunked"
                else:
                    headers["Content-Length"] = str(len(body))
                head = f"HTTP/1.1 {reply.status} Answer\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                head_bytes = (head + "\r\n").encode("latin-1")
                try:
                    if reply.drip_headers is not None:
                        for index in range(len(head_bytes)):
                            self.wfile.write(head_bytes[index : index + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip_headers)
                    else:
                        self.wfile.write(head_bytes)
                    if reply.endless_body:
                        self._write_endlessly()
                    elif reply.chunked:
                        for start in range(0, len(body), CHUNK):
                            piece = body[start : start + CHUNK]
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.wfile.write(body)
                except OSError:
                    self.close_connection = True  # the client hung up: what a bounded client does

            def _write_endlessly(self) -> None:
                stop = time.monotonic() + 60
                while time.monotonic() < stop:
                    self.wfile.write(b"400\r\n" + b"x" * 0x400 + b"\r\n")
                    self.wfile.flush()
                    time.sleep(0.05)  # 20 KiB/s: never silent, slow to reach any size limit
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler


class ForwardingProxy:
    """A tiny HTTP forward proxy (absolute-form requests) that records every URL it forwarded."""

    def __init__(self) -> None:
        self.forwarded: list[str] = []
        self.proxy_authorization: list[str | None] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                target = urlsplit(self.path)
                proxy.forwarded.append(self.path)
                proxy.proxy_authorization.append(self.headers.get("Proxy-Authorization"))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself: (certificate path, key path), PEM; also the CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)
