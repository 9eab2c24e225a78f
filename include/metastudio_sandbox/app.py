"""The FastAPI app of the MetaStudio surface and the fake IAM, over a :class:`~metastudio_sandbox.core.Sandbox`.

The admin API and the gateway are added around it by :func:`metastudio_sandbox.server.build_asgi_app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from metastudio_sandbox.core import Sandbox
from metastudio_sandbox.errors import MSS_API_NOT_FOUND, MSS_INTERNAL, MSS_METHOD_NOT_ALLOWED, ApiError
from metastudio_sandbox.iam import issue_token
from metastudio_sandbox.schemas import COMMAND_BODY, CREATE_BODY, UPDATE_BODY, parse_json_body, parse_list_query
from metastudio_sandbox.web import authenticate, base_url

log = logging.getLogger(__name__)
JOBS = "/v1/{project_id}/digital-human-training-manage/user/jobs"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(sandbox: Sandbox) -> FastAPI:
    """The MetaStudio surface and the fake IAM (the admin API and the gateway are added by the server)."""

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

    _add_routes(app, sandbox)
    return app


def _add_routes(app: FastAPI, sandbox: Sandbox) -> None:
    """The fake IAM's token route and the six MetaStudio job operations."""

    @app.post("/v3/auth/tokens")
    async def tokens(request: Request) -> Response:
        body = parse_json_body(await request.body())
        token, answer = issue_token(body, sandbox.settings, sandbox.tokens, "nocatalog" not in request.query_params)
        return _json(201, answer, {"X-Subject-Token": token})

    @app.get(JOBS)
    async def list_jobs(request: Request, project_id: str) -> Response:
        await authenticate(sandbox, request, project_id)
        query = parse_list_query(dict(request.query_params))
        return _json(200, sandbox.jobs.list_jobs(query, base_url(sandbox, request)))

    @app.post(JOBS)
    async def create_job(request: Request, project_id: str) -> Response:
        body = CREATE_BODY(parse_json_body(await authenticate(sandbox, request, project_id)))
        answer = sandbox.jobs.create(body, request.headers.get("x-app-userid"), base_url(sandbox, request))
        return _json(200, answer)

    @app.get(JOBS + "/{job_id}")
    async def show_job(request: Request, project_id: str, job_id: str) -> Response:
        await authenticate(sandbox, request, project_id)
        return _json(200, sandbox.jobs.show(job_id, base_url(sandbox, request)))

    @app.put(JOBS + "/{job_id}")
    async def update_job(request: Request, project_id: str, job_id: str) -> Response:
        body = UPDATE_BODY(parse_json_body(await authenticate(sandbox, request, project_id)))
        return _json(200, sandbox.jobs.update(job_id, body, base_url(sandbox, request)))

    @app.delete(JOBS + "/{job_id}")
    async def delete_job(request: Request, project_id: str, job_id: str) -> Response:
        await authenticate(sandbox, request, project_id)
        sandbox.jobs.delete(job_id)
        return Response(status_code=200)

    @app.post(JOBS + "/{job_id}/command")
    async def command(request: Request, project_id: str, job_id: str) -> Response:
        body = COMMAND_BODY(parse_json_body(await authenticate(sandbox, request, project_id)))
        return _json(200, await sandbox.jobs.command(job_id, body))
