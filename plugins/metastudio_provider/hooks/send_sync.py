"""The ``requests`` sender of the transport core: one bounded exchange, nothing ambient, nothing followed.

``requests`` bounds each socket read, not a request: headers dripped one byte at a time or an
endless chunked body keep a call alive forever. Here every exchange runs under a watchdog that
shuts the connection's socket down when the request's wall-clock limit passes (the blocked read
returns at once), and the body is read in pieces up to the size cap. Sessions never read the
environment (``trust_env`` off: no ``~/.netrc``, no ambient CA or auth settings); proxies from
``HTTPS_PROXY``/``NO_PROXY`` are passed explicitly per request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from metastudio_provider.hooks.transport import (
    READ_CHUNK,
    USER_AGENT,
    Reply,
    TransportPolicy,
    environment_proxy,
    reply_headers,
    timed_out,
    too_large,
    transport_failure,
)
from metastudio_provider.hooks.upload import UPLOAD_BLOCK_SIZE


class _Exchange:
    """The connections one request uses on this thread, and the watchdog that cuts them at the deadline."""

    def __init__(self, seconds: float) -> None:
        self.connections: list[Any] = []
        self.expired = False
        self._lock = threading.Lock()
        self._ends = time.monotonic() + seconds
        self._timer = self._arm(seconds)

    def _arm(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.expire)
        timer.daemon = True
        timer.start()
        return timer

    def tighten(self, seconds: float) -> None:
        """From now on at most ``seconds`` more (an upload's answer, once its body is sent)."""
        with self._lock:
            if self.expired or time.monotonic() + seconds >= self._ends:
                return
            self._timer.cancel()
            self._ends = time.monotonic() + seconds
            self._timer = self._arm(seconds)

    def cancel(self) -> None:
        with self._lock:
            self._timer.cancel()

    def add(self, connection: Any) -> None:
        with self._lock:
            self.connections.append(connection)
            expired = self.expired
        if expired:
            _shut(connection)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self.connections)
        for connection in connections:
            _shut(connection)


class _WatchedBody:
    """A streamed request body that calls ``on_sent`` once its last byte has been handed out."""

    def __init__(self, body: Any, on_sent: Callable[[], None]) -> None:
        self._body = body
        self._on_sent = on_sent

    def __len__(self) -> int:
        return len(self._body)

    def read(self, size: int = -1) -> Any:
        data = self._body.read(size)
        if not data or len(self._body) == 0:
            self._on_sent()
        return data


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()


class _TrackedPoolMixin:
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        exchange = getattr(_current, "exchange", None)
        if exchange is not None:
            exchange.add(connection)
        return connection


class _TrackedHTTPPool(_TrackedPoolMixin, HTTPConnectionPool):
    pass


class _TrackedHTTPSPool(_TrackedPoolMixin, HTTPSConnectionPool):
    pass


_TRACKED_POOLS = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections the request watchdog can cut (directly or through a proxy).

    ``large_blocks`` writes request bodies in 1 MiB blocks (urllib3's default is 16 KiB), for uploads.
    """

    def __init__(self, *, large_blocks: bool = False, **kwargs: Any) -> None:
        self._large_blocks = large_blocks
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._large_blocks:
            pool_kwargs.setdefault("blocksize", UPLOAD_BLOCK_SIZE)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _TRACKED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if self._large_blocks:
            proxy_kwargs.setdefault("blocksize", UPLOAD_BLOCK_SIZE)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _TRACKED_POOLS
        return manager


def new_session(
    policy: TransportPolicy,
    *,
    auth: requests.auth.AuthBase | None = None,
    headers: dict[str, str] | None = None,
    large_blocks: bool = False,
    pool_size: int = 10,
) -> requests.Session:
    """A session that uses nothing from the environment but the proxy, and honours ``verify``."""
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials, no REQUESTS_CA_BUNDLE: only what was configured
    session.verify = policy.verify
    session.auth = auth
    session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
    adapter = DeadlineAdapter(large_blocks=large_blocks, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(
    session: requests.Session,
    request: requests.Request | requests.PreparedRequest,
    *,
    operation: str,
    policy: TransportPolicy,
    seconds: float,
    answer_seconds: float | None = None,
) -> Reply:
    """One exchange, bounded to ``seconds`` wall-clock and to the policy's ``max_response_bytes`` of answer.

    ``answer_seconds`` (uploads): once a streamed body has been sent, the answer must be complete
    within this many seconds, so a long upload is bounded by ``seconds`` and its answer by less.

    Redirects are not followed (the caller's :func:`~.transport.check_reply` refuses them). Failures
    become :class:`~metastudio_provider.exceptions.MetaStudioTransportError`, redacted.
    """
    prepared = session.prepare_request(request) if isinstance(request, requests.Request) else request
    url = prepared.url or ""
    proxy = environment_proxy(url)
    exchange = _Exchange(seconds)
    if answer_seconds is not None and hasattr(prepared.body, "read"):
        prepared.body = _WatchedBody(prepared.body, lambda: exchange.tighten(answer_seconds))
    _current.exchange = exchange
    try:
        response = session.send(
            prepared,
            timeout=(min(policy.connect_timeout, seconds), min(policy.read_timeout, seconds)),
            allow_redirects=False,
            stream=True,
            proxies={"http": proxy, "https": proxy} if proxy else {},
        )
        with response:
            body = _read_capped(response, policy.max_response_bytes, url, operation)
        return Reply(response.status_code, response.reason, reply_headers(response.headers), body)
    except requests.RequestException as exc:
        if exchange.expired:
            raise timed_out(url, seconds, operation) from None
        if isinstance(exc, requests.Timeout):
            connect_failed = isinstance(exc, requests.ConnectTimeout)
            raise timed_out(url, min(policy.read_timeout, seconds), operation, connect_failed=connect_failed) from None
        raise transport_failure(exc, url, operation, policy.redactor, connect_failed=_is_connect_failure(exc)) from None
    finally:
        exchange.cancel()
        _current.exchange = None


def _read_capped(response: requests.Response, limit: int, url: str, operation: str) -> bytes:
    request_id = response.headers.get("X-Request-Id")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, url, operation, request_id)
    body = bytearray()
    for chunk in response.iter_content(READ_CHUNK):  # decoded: a gzip bomb is counted as it inflates
        body += chunk
        if len(body) > limit:
            raise too_large(limit, url, operation, request_id)
    return bytes(body)


def _is_connect_failure(exc: requests.RequestException) -> bool:
    """True when the request never reached the server (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return type(reason).__name__ in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")
