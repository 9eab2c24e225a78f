"""Assembles a sandbox: its parts (store, auth, faults, jobs) and the FastAPI app of the MetaStudio surface."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from metastudio_sandbox.admin import build_admin_router
from metastudio_sandbox.auth import AkSkVerifier, Authenticator, ReceivedRequest, TokenIssuer
from metastudio_sandbox.errors import (
    MSS_API_NOT_FOUND,
    MSS_INTERNAL,
    MSS_METHOD_NOT_ALLOWED,
    MSS_PROJECT_MISMATCH,
    ApiError,
    invalid,
)
from metastudio_sandbox.faults import Faults, parse_fault_flag, parse_throttle_flag
from metastudio_sandbox.gateway import Gateway
from metastudio_sandbox.iam import issue_token
from metastudio_sandbox.jobs import JobService
from metastudio_sandbox.scenario import DEFAULT_SCENARIO, load_scenario, read_scenario
from metastudio_sandbox.schemas import COMMAND_BODY, CREATE_BODY, UPDATE_BODY, parse_json_body, parse_list_query
from metastudio_sandbox.settings import Settings
from metastudio_sandbox.store import Store
from metastudio_sandbox.uploads import DownloadHandler, UploadHandler, UrlSigner

log = logging.getLogger(__name__)
JOBS = "/v1/{project_id}/digital-human-training-manage/user/jobs"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class Sandbox:
    """One sandbox instance: everything the HTTP layer and the tests need to reach."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if settings.data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="metastudio-sandbox-")
            settings.data_dir = Path(self._tempdir.name)
        self.store = Store(Path(settings.data_dir))
        fresh = not self.store.all_jobs() and not (Path(settings.data_dir) / "seeded").exists()
        self.signer = UrlSigner(self.store.secret)
        self.tokens = TokenIssuer(self.store.secret)
        self.authenticator = Authenticator(
            AkSkVerifier(settings.ak, settings.sk, settings.clock_skew), self.tokens, settings.project_id
        )
        self.faults = Faults(settings.fault_seed)
        for operation, values in settings.faults.items():
            self.faults.set_fault(operation, values)
        for operation, throttle in settings.throttles.items():
            self.faults.set_throttle(operation, throttle["rate"], throttle.get("burst"))
        self.jobs = JobService(self.store, settings, self.signer)
        self.uploads = UploadHandler(self.store, self.signer, settings)
        self.downloads = DownloadHandler(self.store, self.signer)
        if fresh:  # a restart with a data dir keeps its jobs instead of re-seeding
            self.load(read_scenario(settings.scenario) if settings.scenario else DEFAULT_SCENARIO)
            (Path(settings.data_dir) / "seeded").touch()
        self.gateway = Gateway(self, create_app(self))

    def load(self, scenario: dict[str, Any]) -> list[str]:
        return load_scenario(self.store, scenario, self.settings.project_id)

    def reset(self, scenario: dict[str, Any] | None = None) -> list[str]:
        self.store.reset()
        self.gateway.requests.clear()
        self.faults.clear_faults()
        self.faults.clear_throttles()
        return self.load(DEFAULT_SCENARIO if scenario is None else scenario)

    def close(self) -> None:
        self.store.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self.gateway.requests)

    def set_fault_flags(self, faults: list[str], throttles: list[str]) -> None:
        """Apply ``--fault`` / ``--throttle`` CLI flags."""
        for flag in faults:
            operation, values = parse_fault_flag(flag)
            self.faults.set_fault(operation, values)
        for flag in throttles:
            operation, rate, burst = parse_throttle_flag(flag)
            self.faults.set_throttle(operation, rate, burst)

    # Request helpers -------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        """Where presigned URLs point: --public-url, else the host the client used."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"

    async def authenticate(self, request: Request, project_id: str) -> bytes:
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
        scope["sandbox.auth"] = self.authenticator.authenticate(received)
        if unquote(project_id) != self.settings.project_id:
            raise ApiError(400, MSS_PROJECT_MISMATCH, "urlTenantId is not equal tokenTenantId")
        app_user_id = request.headers.get("x-app-userid")
        if app_user_id is not None and (not 1 <= len(app_user_id) <= 256 or _CJK.search(app_user_id)):
            raise invalid("X-App-UserId", "must be 1-256 characters without Chinese characters")
        return body


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(sandbox: Sandbox) -> FastAPI:
    """The MetaStudio surface, the fake IAM and the admin API (the gateway wraps it)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def schedule(delay: float, callback: Callable[[], None]) -> None:
            loop.call_soon_threadsafe(loop.call_later, delay, callback)  # callable from any thread

        sandbox.jobs.scheduler = schedule
        sandbox.jobs.resume_reviews()
        yield
        sandbox.jobs.scheduler = None

    app = FastAPI(title="MetaStudio sandbox", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        body = error.body(request.scope.get("sandbox.request_id"))
        return Response(body, status_code=error.status, headers=error.headers, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            return await api_error(request, ApiError(405, MSS_METHOD_NOT_ALLOWED, "SR.method not allowed"))
        return await api_error(request, ApiError(error.status_code, MSS_API_NOT_FOUND, "SR.api not found"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("Unexpected error in %s %s", request.method, request.url.path)
        return await api_error(request, ApiError(500, MSS_INTERNAL, "Internal error in the sandbox"))

    @app.post("/v3/auth/tokens")
    async def tokens(request: Request) -> Response:
        body = parse_json_body(await request.body())
        token, answer = issue_token(body, sandbox.settings, sandbox.tokens, "nocatalog" not in request.query_params)
        return _json(201, answer, {"X-Subject-Token": token})

    @app.get(JOBS)
    async def list_jobs(request: Request, project_id: str) -> Response:
        await sandbox.authenticate(request, project_id)
        query = parse_list_query(dict(request.query_params))
        return _json(200, sandbox.jobs.list_jobs(query, sandbox.base_url(request)))

    @app.post(JOBS)
    async def create_job(request: Request, project_id: str) -> Response:
        body = CREATE_BODY(parse_json_body(await sandbox.authenticate(request, project_id)))
        answer = sandbox.jobs.create(body, request.headers.get("x-app-userid"), sandbox.base_url(request))
        return _json(200, answer)

    @app.get(JOBS + "/{job_id}")
    async def show_job(request: Request, project_id: str, job_id: str) -> Response:
        await sandbox.authenticate(request, project_id)
        return _json(200, sandbox.jobs.show(job_id, sandbox.base_url(request)))

    @app.put(JOBS + "/{job_id}")
    async def update_job(request: Request, project_id: str, job_id: str) -> Response:
        body = UPDATE_BODY(parse_json_body(await sandbox.authenticate(request, project_id)))
        return _json(200, sandbox.jobs.update(job_id, body, sandbox.base_url(request)))

    @app.delete(JOBS + "/{job_id}")
    async def delete_job(request: Request, project_id: str, job_id: str) -> Response:
        await sandbox.authenticate(request, project_id)
        sandbox.jobs.delete(job_id)
        return Response(status_code=200)

    @app.post(JOBS + "/{job_id}/command")
    async def command(request: Request, project_id: str, job_id: str) -> Response:
        body = COMMAND_BODY(parse_json_body(await sandbox.authenticate(request, project_id)))
        return _json(200, await sandbox.jobs.command(job_id, body))

    app.include_router(build_admin_router(sandbox))
    return app
