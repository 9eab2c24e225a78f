"""One ASGI app from a sandbox (the wiring), run under uvicorn: in a thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from metastudio_sandbox.admin import build_admin_router
from metastudio_sandbox.app import create_app
from metastudio_sandbox.core import Sandbox
from metastudio_sandbox.gateway import Gateway
from metastudio_sandbox.settings import Settings


class _NoQueryFilter(logging.Filter):
    """Belt and braces: uvicorn's access log is off, but never let a presigned query reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] if isinstance(arg, str) else arg for arg in record.args)
        return True


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front, so ``port=0`` yields the real port before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on uvloop when installed (markedly faster uploads), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def serve(server: uvicorn.Server, sock: socket.socket) -> None:
    run(server.serve(sockets=[sock]))


def build_asgi_app(sandbox: Sandbox) -> Gateway:
    """The one place the sandbox's HTTP layers are wired: the gateway around the API app and the admin API."""
    app = create_app(sandbox)
    app.include_router(build_admin_router(sandbox))
    return Gateway(
        app,
        faults=sandbox.faults,
        uploads=sandbox.uploads,
        downloads=sandbox.downloads,
        request_log=sandbox.request_log,
    )


def make_server(sandbox: Sandbox, log_level: str = "warning", http: str = "auto") -> uvicorn.Server:
    config = uvicorn.Config(
        build_asgi_app(sandbox),
        http=http,  # "auto": httptools when installed, h11 otherwise
        lifespan="on",
        access_log=False,  # it prints full paths, query strings (presigned signatures) included
        log_level=log_level,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    logging.getLogger("uvicorn.access").addFilter(_NoQueryFilter())
    return uvicorn.Server(config)


class SandboxServer:
    """A sandbox served by uvicorn in a daemon thread; ``url`` is its base URL once started."""

    def __init__(
        self,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        http: str = "auto",
        **kwargs: Any,
    ) -> None:
        self.sandbox = Sandbox(settings or Settings(**kwargs))
        self._sock = bind(host, port)
        self.url = base_url_of(self._sock)
        self._server = make_server(self.sandbox, http=http)
        self._thread = threading.Thread(target=self._run, name="metastudio-sandbox", daemon=True)

    def _run(self) -> None:
        serve(self._server, self._sock)

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread.start()
        for _ in range(int(timeout / 0.01)):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("the sandbox did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.sandbox.close()


@contextmanager
def run_in_thread(settings: Settings | None = None, **kwargs: Any) -> Iterator[SandboxServer]:
    """``with run_in_thread(review_delay=0.2) as server: requests.get(server.url + ...)``."""
    server = SandboxServer(settings, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()
