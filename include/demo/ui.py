"""`make ui`: Airflow's UI with the remediation DAG, the MetaStudio sandbox and the demo data.

Starts what `make demo` starts (the sandbox with both demo scenarios, the demo media) and a local
Airflow in a fresh home under ``var/ui/``: api-server (the UI), scheduler, dag-processor and
triggerer, LocalExecutor, on Postgres (127.0.0.1:5432, or ``METASTUDIO_UI_POSTGRES``) when one
answers and on SQLite otherwise. The MetaStudio and alert connections, the ``metastudio_api``
pool and the Variables (corrections manifest, report folder) are stored in Airflow's database, so
the UI shows and edits them. Prints its progress, then the URL and the login; Ctrl-C or SIGTERM
stops every process it started, and so does one of them exiting.

The Airflow settings and the process handling are the browser tests' own (``tests/ui/stack.py``
and the distributed test's ``Stack``), so what a person sees here is what those tests check.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import requests
from run_demo import DAG_ID, PROJECT, airflow_env, start_demo_sandbox

sys.path.insert(0, str(PROJECT))  # the browser tests' stack settings and process handling
from make_assets import write_assets, write_refused_assets, write_repaired_assets

from tests.deployment.test_distributed_run import Stack, _free_port, wait_for
from tests.ui.stack import ui_env

AIRFLOW = str(Path(sys.executable).parent / "airflow")
USER = "admin"
POSTGRES_ADMIN = os.environ.get("METASTUDIO_UI_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
POSTGRES_DATABASE = "metastudio_ui"
BOOT_TIMEOUT = 300  # seconds for every component to come up on a busy 2-core machine
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f}s] {message}", flush=True)


def stop_on_sigterm() -> None:
    """SIGTERM stops the stack the way Ctrl-C does."""

    def interrupt(signum: int, frame: Any) -> NoReturn:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def postgres_url(choice: str) -> str | None:
    """A fresh ``metastudio_ui`` database when Postgres answers (or is asked for); None means SQLite."""
    if choice == "sqlite":
        return None
    try:
        import psycopg2

        connection = psycopg2.connect(POSTGRES_ADMIN, connect_timeout=3)
    except Exception as exc:  # any failure means: no usable Postgres here
        if choice == "postgres":
            raise SystemExit(f"no Postgres at {POSTGRES_ADMIN.split('@')[-1]}: {exc}") from None
        progress(f"no Postgres at {POSTGRES_ADMIN.split('@')[-1]}; using SQLite")
        return None
    with contextlib.closing(connection), connection.cursor() as cursor:
        connection.autocommit = True
        cursor.execute(f"DROP DATABASE IF EXISTS {POSTGRES_DATABASE} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {POSTGRES_DATABASE}")
    admin = POSTGRES_ADMIN.replace("postgresql://", "postgresql+psycopg2://", 1)
    return f"{admin.rsplit('/', 1)[0]}/{POSTGRES_DATABASE}"


def stack_env(workdir: Path, sandbox_url: str, port: int, database: str | None) -> tuple[dict[str, str], str]:
    """Airflow's environment for every process, and the generated password of the ``admin`` login."""
    home = workdir / "airflow-home"
    home.mkdir(parents=True)
    password = secrets.token_urlsafe(12)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    env = ui_env(airflow_env(home, sandbox_url), port)
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",  # a login, as in any deployment
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        }
    )
    if database:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database
    return env, password


def prepare(stack: Stack, env: dict[str, str], workdir: Path) -> None:
    """Metadata database, pool, connections and Variables, as a team would set them up."""
    airflow = [AIRFLOW]
    stack.run("setup", [*airflow, "db", "migrate"], env, timeout=600)
    stack.run("setup", [*airflow, "pools", "set", "metastudio_api", "8", "MetaStudio API calls and uploads"], env)
    for conn_id in ("metastudio_default", "metastudio_alerts"):  # from the environment into the database
        conn_json = env.pop(f"AIRFLOW_CONN_{conn_id.upper()}")
        stack.run("setup", [*airflow, "connections", "add", conn_id, "--conn-json", conn_json], env)
    variables = {
        "metastudio_corrections_path": str(PROJECT / "include" / "corrections" / "corrections.yaml"),
        "metastudio_report_dir": str(workdir / "reports"),
    }
    for key, value in variables.items():
        stack.run("setup", [*airflow, "variables", "set", key, value], env)


class Api:
    """The REST API v2 with a token of the ``admin`` login."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.password = password
        self.token = ""

    def login(self) -> bool:
        response = requests.post(
            f"{self.url}/auth/token", json={"username": USER, "password": self.password}, timeout=10
        )
        self.token = response.json()["access_token"] if response.status_code == 201 else ""
        return bool(self.token)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}/api/v2{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


def healthy(url: str) -> bool:
    health = requests.get(f"{url}/api/v2/monitor/health", timeout=5).json()
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return all(health.get(part, {}).get("status") == "healthy" for part in parts)


def serve(stack: Stack, sandbox: Any) -> None:
    """Until Ctrl-C/SIGTERM; raises when a process exits on its own."""
    while True:
        time.sleep(2)
        stack.assert_alive()
        if sandbox.poll() is not None:
            raise RuntimeError(f"the MetaStudio sandbox exited ({sandbox.returncode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8080, help="the UI's port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--workdir", type=Path, default=PROJECT / "var" / "ui", help="emptied and used for everything")
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    port = args.port or _free_port()
    url = f"http://127.0.0.1:{port}"
    with contextlib.suppress(requests.ConnectionError):
        requests.get(url, timeout=2)
        raise SystemExit(f"{url} is already in use: stop what serves it, or choose another port (make ui PORT=8081)")

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    progress("writing the demo media (genuine small MP4, JPEG, PNG and PDF files)")
    write_assets(PROJECT / "include" / "corrections" / "assets")
    write_refused_assets(PROJECT / "include" / "corrections" / "assets")
    write_repaired_assets(PROJECT / "include" / "corrections" / "assets")
    progress("starting the MetaStudio sandbox with the demo scenario")
    sandbox, sandbox_url = start_demo_sandbox(workdir / "sandbox")
    stack = Stack(workdir)
    try:
        database = postgres_url(args.database)
        progress(f"preparing Airflow's database ({'Postgres' if database else 'SQLite'}), pool, connections, Variables")
        env, password = stack_env(workdir, sandbox_url, port, database)
        prepare(stack, env, workdir)
        progress(f"starting {', '.join(SERVICES)} (a minute or two); logs in {stack.log_dir}")
        stack.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)], env)
        for service in SERVICES[1:]:
            stack.start(service, [AIRFLOW, service], env)
        wait_for("every Airflow component healthy", lambda: healthy(url), BOOT_TIMEOUT, stack, interval=2)
        api = Api(url, password)
        wait_for("a login token", api.login, 60, stack)
        progress(f"waiting for the DAG {DAG_ID} to be parsed")
        wait_for(f"the DAG {DAG_ID}", lambda: api.get(f"/dags/{DAG_ID}").ok, BOOT_TIMEOUT, stack, interval=2)
        print(
            f"\nAirflow UI:  {url}\nLogin:       {USER} / {password}\n"
            f"DAG:         {url}/dags/{DAG_ID} (trigger it with the ▶ button; try wait_for_review and ask_a_person)\n"
            f"Sandbox:     {sandbox_url}/_sandbox/jobs (its jobs), {sandbox_url}/_sandbox/webhooks/alerts (alerts)\n"
            f"Logs:        {stack.log_dir}\n\nCtrl-C stops everything.\n",
            flush=True,
        )
        serve(stack, sandbox)
    except KeyboardInterrupt:
        return 0
    except (AssertionError, RuntimeError) as exc:  # a component did not start or exited
        print(f"\nmake ui stopped: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        progress("stopping Airflow and the sandbox")
        stack.stop()
        sandbox.terminate()
        sandbox.wait(timeout=15)
        progress("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
