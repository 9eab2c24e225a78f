"""Admin API under ``/_sandbox/``: inspection and control for tests and demos (no MetaStudio auth).

The router is built from four groups of routes, each over the :class:`~metastudio_sandbox.core.Sandbox`
it is given: jobs (inspect, move, delete), scenario and settings, faults and throttles, and the
records (request log, webhook calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from metastudio_sandbox.core import Sandbox
from metastudio_sandbox.errors import ApiError
from metastudio_sandbox.schemas import parse_json_body
from metastudio_sandbox.states import STATES
from metastudio_sandbox.timeutil import rfc3339
from metastudio_sandbox.views import operation_log
from metastudio_sandbox.web import base_url

ADMIN_BAD_REQUEST = "SANDBOX.0400"
ADMIN_NOT_FOUND = "SANDBOX.0404"


def _bad(message: str) -> ApiError:
    return ApiError(400, ADMIN_BAD_REQUEST, message)


async def _body(request: Request) -> Any:
    return parse_json_body(await request.body())


def build_admin_router(sandbox: Sandbox) -> APIRouter:
    """All the admin routes over ``sandbox``."""
    router = APIRouter(prefix="/_sandbox")

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    _add_job_routes(router, sandbox)
    _add_scenario_and_settings_routes(router, sandbox)
    _add_fault_routes(router, sandbox)
    _add_record_routes(router, sandbox)
    return router


def _inspect(sandbox: Sandbox, request: Request, job_id: str) -> dict[str, Any]:
    """A job as the API shows it, plus its internal state, stored files and issued URLs."""
    job = sandbox.store.get_job(job_id)
    if job is None:
        raise ApiError(404, ADMIN_NOT_FOUND, f"no job {job_id}")
    return {
        "job": sandbox.jobs.show(job_id, base_url(sandbox, request)),
        "internal": job["_meta"],
        "files": [record.to_json() for record in sandbox.store.files_of(job_id)],
        "urls": [
            {
                "asset": url.asset,
                "part": url.part,
                "status": url.status,
                "expires": url.expires,
                "content_type": url.content_type,
            }
            for url in sandbox.store.urls_of(job_id)
        ],
    }


def _add_scenario_and_settings_routes(router: APIRouter, sandbox: Sandbox) -> None:
    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return sandbox.settings.public_view()

    @router.patch("/settings")
    async def patch_settings(request: Request) -> dict[str, Any]:
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("settings body must be an object")
        try:
            return sandbox.update_settings(body)
        except ValueError as exc:
            raise _bad(str(exc)) from None

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        """Forget everything (jobs, files, webhooks, faults, request log); seed the given or default scenario."""
        body = await _body(request)
        try:
            ids = sandbox.reset(body or None)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return {"job_ids": ids}

    @router.post("/scenario")
    async def load(request: Request) -> dict[str, Any]:
        """Add the scenario's jobs (a job with an existing id is replaced)."""
        body = await _body(request)
        try:
            return {"job_ids": sandbox.load(body)}
        except ValueError as exc:
            raise _bad(str(exc)) from None


def _add_job_routes(router: APIRouter, sandbox: Sandbox) -> None:
    def inspect(request: Request, job_id: str) -> dict[str, Any]:
        return _inspect(sandbox, request, job_id)

    @router.get("/jobs")
    async def list_jobs(request: Request) -> dict[str, Any]:
        jobs = sorted(sandbox.store.all_jobs(), key=lambda job: job["create_time"])
        return {"jobs": [inspect(request, job["job_id"]) for job in jobs]}

    @router.get("/jobs/{job_id}")
    async def get_job(request: Request, job_id: str) -> dict[str, Any]:
        return inspect(request, job_id)

    @router.put("/jobs/{job_id}/state")
    async def set_state(request: Request, job_id: str) -> dict[str, Any]:
        """Move a job by hand, e.g. to simulate a resubmission done in the console."""
        body = await _body(request)
        job = sandbox.store.get_job(job_id)
        if job is None:
            raise ApiError(404, ADMIN_NOT_FOUND, f"no job {job_id}")
        if not isinstance(body, dict) or body.get("state") not in STATES:
            raise _bad('body must be {"state": <documented job state>, "log_type"?: ..., ...}')
        job["state"] = body["state"]
        job["_meta"]["review_due"] = None
        job["_meta"]["submissions"] += 1  # any review scheduled before this move is now stale
        if body.get("log_type"):
            job["operation_logs"].append(
                operation_log(
                    rfc3339(),
                    str(body["log_type"]),
                    str(body.get("operate_user", "ADMIN")),
                    str(body.get("log_description", "")),
                    body.get("error_code"),
                )
            )
        if "asset_id" in body:
            job["asset_id"] = body["asset_id"]
        sandbox.store.put_job(job)
        return inspect(request, job_id)

    @router.delete("/jobs/{job_id}")
    async def delete_job(job_id: str) -> Response:
        if not sandbox.store.delete_job(job_id):
            raise ApiError(404, ADMIN_NOT_FOUND, f"no job {job_id}")
        return Response(status_code=204)


def _add_fault_routes(router: APIRouter, sandbox: Sandbox) -> None:
    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return sandbox.faults.view()

    def faults_after(change: Callable[[], None]) -> dict[str, Any]:
        """Apply a fault/throttle change; a ValueError becomes a 400 naming the problem."""
        try:
            change()
        except ValueError as exc:
            raise _bad(str(exc)) from None
        return sandbox.faults.view()

    @router.put("/faults/{operation}")
    async def set_fault(request: Request, operation: str) -> dict[str, Any]:
        body = await _body(request)

        def change() -> None:
            if not isinstance(body, dict):
                raise ValueError("body must be an object of fault settings")
            sandbox.faults.set_fault(operation, body)

        return faults_after(change)

    @router.delete("/faults")
    @router.delete("/faults/{operation}")
    async def clear_faults(operation: str = "*") -> dict[str, Any]:
        return faults_after(lambda: sandbox.faults.clear_faults(operation))

    @router.put("/throttles/{operation}")
    async def set_throttle(request: Request, operation: str) -> dict[str, Any]:
        body = await _body(request)

        def change() -> None:
            if not isinstance(body, dict) or not isinstance(body.get("rate"), int | float):
                raise ValueError('body must be {"rate": per-second, "burst"?: n}')
            sandbox.faults.set_throttle(operation, float(body["rate"]), body.get("burst"))

        return faults_after(change)

    @router.delete("/throttles")
    @router.delete("/throttles/{operation}")
    async def clear_throttles(operation: str = "*") -> dict[str, Any]:
        return faults_after(lambda: sandbox.faults.clear_throttles(operation))


def _add_record_routes(router: APIRouter, sandbox: Sandbox) -> None:
    @router.get("/requests")
    async def requests() -> dict[str, Any]:
        return {"requests": sandbox.requests}

    @router.delete("/requests")
    async def clear_requests() -> Response:
        sandbox.request_log.clear()
        return Response(status_code=204)

    @router.post("/webhooks/{name}")
    async def webhook(request: Request, name: str) -> JSONResponse:
        seq = sandbox.store.add_webhook(name, await _body(request))
        return JSONResponse({"seq": seq}, status_code=201)

    @router.get("/webhooks/{name}")
    async def webhooks(name: str) -> dict[str, Any]:
        return {"name": name, "calls": sandbox.store.webhooks(name)}

    @router.delete("/webhooks/{name}")
    async def clear_webhooks(name: str) -> Response:
        sandbox.store.clear_webhooks(name)
        return Response(status_code=204)
