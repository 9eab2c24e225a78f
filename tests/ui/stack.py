"""One small Airflow for the browser tests: api-server, scheduler and dag-processor on loopback.

A throw-away Airflow home (SQLite, LocalExecutor) built by the e2e suite's ``make_airflow_home``,
the MetaStudio sandbox as a subprocess (the reliability harness's ``SubprocessSandbox``), and the
processes started and stopped by the distributed test's ``Stack``. The MetaStudio connection,
the alert webhook and the Variables come from the environment (the reliability harness's
``run_env``), so the scheduler's tasks talk to this sandbox; the connection *form* is tested
separately, with a connection of its own.

SimpleAuthManager runs with ``simple_auth_manager_all_admins``: the UI and the REST API need
no login, which keeps the tests about what the pages show.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.dags.test_remediation_e2e import AIRFLOW, DAG_ID, PROJECT, make_airflow_home
from tests.deployment.test_distributed_run import Stack, _free_port, wait_for
from tests.reliability.harness import SubprocessSandbox, run_env, write_manifest

BOOT_TIMEOUT = 180  # seconds for the api-server, scheduler and dag-processor to come up on a busy 2-core machine


def ui_env(base: dict[str, str], api_port: int) -> dict[str, str]:
    """Settings shared by every process of the stack (same JWT secret, same API URL)."""
    return {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # POST /connections/test runs the hook's test_connection
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # Only the runs the tests trigger: unpausing must not also start the nightly slot.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(_free_port()),
    }


@dataclass
class UiStack:
    """The running stack: the API/UI URL, the sandbox, the manifest and the processes."""

    api: str
    sandbox: SubprocessSandbox
    manifest: Path
    processes: Stack
    env: dict[str, str] = field(repr=False)

    @property
    def sandbox_url(self) -> str:
        return self.sandbox.url

    @property
    def report_dir(self) -> Path:
        return self.manifest.parent / "reports"

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """The REST API v2 (the all-admins middleware authenticates every request)."""
        response = requests.request(method, f"{self.api}/api/v2{path}", timeout=30, **kwargs)
        if not response.ok:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_for(self, what: str, check: Any, timeout: float, interval: float = 1.0) -> Any:
        return wait_for(what, check, timeout, self.processes, interval=interval)

    def tails(self) -> str:
        return self.processes.tails()


def _healthy(api: str) -> bool:
    health = requests.get(f"{api}/api/v2/monitor/health", timeout=5).json()
    return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))


def start_ui_stack(workdir: Path) -> UiStack:
    """Start everything; the caller must ``stop_ui_stack`` (also when this raises after starting)."""
    manifest = write_manifest(workdir, with_flexus=True)  # one job MetaStudio refuses: a failed task to read
    sandbox = SubprocessSandbox(workdir / "sandbox", review_delay=0.3).start()
    processes = Stack(workdir)
    stack = UiStack(api="", sandbox=sandbox, manifest=manifest, processes=processes, env={})
    try:
        home = workdir / "airflow-home"
        home.mkdir()
        api_port = _free_port()
        env = ui_env(run_env(make_airflow_home(home), sandbox.url, manifest), api_port)
        stack.env, stack.api = env, f"http://127.0.0.1:{api_port}"
        api_server = [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        processes.start("api-server", api_server, env)
        processes.start("scheduler", [AIRFLOW, "scheduler"], env)
        processes.start("dag-processor", [AIRFLOW, "dag-processor"], env)
        stack.wait_for("the api-server and scheduler healthy", lambda: _healthy(stack.api), BOOT_TIMEOUT)
        stack.wait_for(
            f"the DAG {DAG_ID} parsed",
            lambda: requests.get(f"{stack.api}/api/v2/dags/{DAG_ID}", timeout=10).ok,
            BOOT_TIMEOUT,
        )
        stack.rest("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    except BaseException:
        stop_ui_stack(stack)
        raise
    return stack


def stop_ui_stack(stack: UiStack) -> None:
    stack.processes.stop()
    stack.sandbox.stop()
