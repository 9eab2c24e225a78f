"""Shared harness of the reliability suite: Airflow homes, DAG runs, sandbox watchers, outcome checks.

It builds on the end-to-end harness of ``tests/dags/test_remediation_e2e.py`` (same scenario, same
manifest, same asset generator) and adds what the fault matrix needs: connection extras per run,
runs started in the background, sandboxes run as subprocesses (to restart them mid-run), a watcher
thread that changes the sandbox "by hand" at the right moment, and leak scans.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.dags.test_remediation_e2e import (  # the e2e harness: constants and asset/manifest helpers
    AIRFLOW,
    AK,
    ANCHOR,
    DAG_ID,
    FLEXUS,
    HOST,
    PROJECT,
    PROJECT_ID,
    REPORTER,
    SK,
    TEACHER,
    sha256,
    write_manifest,
)

__all__ = [
    "AK",
    "ANCHOR",
    "DAG_ID",
    "FIXABLE",
    "FLEXUS",
    "HOST",
    "PROJECT",
    "PROJECT_ID",
    "REPORTER",
    "SCENARIO",
    "SK",
    "TEACHER",
    "sha256",
    "write_manifest",
]

SCENARIO = PROJECT / "include" / "demo" / "scenario.yaml"
FIXABLE = (ANCHOR, HOST, TEACHER)  # the jobs the demo manifest (without the Flexus job) fixes
SUBMITTED_STATES = ("AUTO_VERIFYING", "MANUAL_VERIFY_SUCCESS")


def clone_airflow_home(env: dict[str, str], home: Path) -> dict[str, str]:
    """A second, independent Airflow home copied from a migrated one (for concurrent runs)."""
    shutil.copytree(env["AIRFLOW_HOME"], home, ignore=shutil.ignore_patterns("logs", "metastudio_reports"))
    return {**env, "AIRFLOW_HOME": str(home)}


@dataclass
class Run:
    returncode: int
    output: str
    report: dict[str, Any]
    seconds: float = 0.0

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["job_id"]: row for row in self.report.get("jobs", [])}

    def statuses(self) -> dict[str, str]:
        return {job_id: row["status"] for job_id, row in self.rows().items()}


def run_env(env: dict[str, str], base_url: str, manifest: Path, **extra: Any) -> dict[str, str]:
    """The run's environment; ``extra`` overrides connection extras (``login``/``password`` the fields)."""
    connection = {
        "conn_type": "metastudio",
        "host": base_url,
        "login": extra.pop("login", AK),
        "password": extra.pop("password", SK),
        "extra": {"project_id": PROJECT_ID, "retry_delay": 0.2, "read_timeout": 20, **extra},
    }
    return {
        **env,
        "AIRFLOW_CONN_METASTUDIO_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_METASTUDIO_ALERTS": json.dumps(
            {"conn_type": "http", "host": f"{base_url}/_sandbox/webhooks/alerts"}
        ),
        "AIRFLOW_VAR_METASTUDIO_CORRECTIONS_PATH": str(manifest),
        "AIRFLOW_VAR_METASTUDIO_REPORT_DIR": str(manifest.parent / "reports"),
    }


class BackgroundRun:
    """``airflow dags test`` started in the background; ``wait()`` gives the :class:`Run`."""

    def __init__(
        self, env: dict[str, str], base_url: str, manifest: Path, conf: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        self.report_dir = manifest.parent / "reports"
        self.before = set(self.report_dir.rglob("*.json")) if self.report_dir.exists() else set()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [AIRFLOW, "dags", "test", DAG_ID, "-c", json.dumps(conf or {})],
            env=run_env(env, base_url, manifest, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait(self, timeout: float = 300) -> Run:
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
            raise AssertionError(f"airflow dags test did not finish in {timeout} s:\n{output[-3000:]}") from None
        written = re.findall(r"Report written to (\S+\.json)", output)  # this run's own report
        new = sorted(set(self.report_dir.rglob("*.json")) - self.before) if self.report_dir.exists() else []
        path = Path(written[-1]) if written else (new[-1] if new else None)
        report = json.loads(path.read_text()) if path else {}
        return Run(self.process.returncode, output, report, round(time.monotonic() - self.started, 1))


def run_dag(
    env: dict[str, str], base_url: str, manifest: Path, conf: dict[str, Any] | None = None, **extra: Any
) -> Run:
    """Run the DAG once with ``airflow dags test``; ``extra`` overrides connection extras."""
    return BackgroundRun(env, base_url, manifest, conf, **extra).wait()


# ----------------------------------------------------------------------------------------------
# The sandbox: admin calls, a subprocess sandbox that can be restarted, a watcher
# ----------------------------------------------------------------------------------------------


def admin(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{base_url}/_sandbox{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def fault(base_url: str, operation: str, **settings: Any) -> None:
    admin(base_url, "PUT", f"/faults/{operation}", json=settings)


def job_view(base_url: str, job_id: str) -> dict[str, Any]:
    return admin(base_url, "GET", f"/jobs/{job_id}")


def state_of(base_url: str, job_id: str) -> str:
    response = requests.get(f"{base_url}/_sandbox/jobs/{job_id}", timeout=10)
    if response.status_code == 404:
        return "DELETED"
    response.raise_for_status()
    return response.json()["job"]["state"]


def requests_log(base_url: str) -> list[dict[str, Any]]:
    return admin(base_url, "GET", "/requests")["requests"]


def calls(base_url: str, method: str, operation: str, job_id: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in requests_log(base_url)
        if r["method"] == method and r["operation"] == operation and (job_id is None or f"/{job_id}" in r["path"])
    ]


def alerts(base_url: str) -> list[dict[str, Any]]:
    return [call["body"] for call in admin(base_url, "GET", "/webhooks/alerts")["calls"]]


def submissions(base_url: str, job_id: str) -> int:
    logs = job_view(base_url, job_id)["job"].get("operation_logs") or []
    return sum(1 for log in logs if log.get("log_type") == "USER_VERIFYING_SUBMITTED")


class SubprocessSandbox:
    """``python -m metastudio_sandbox`` with a data dir, on a fixed port, that can be restarted."""

    def __init__(self, data_dir: Path, port: int = 0, review_delay: float = 0.3) -> None:
        self.data_dir = data_dir
        self.port = port
        self.review_delay = review_delay
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> SubprocessSandbox:
        command = [
            sys.executable, "-m", "metastudio_sandbox", "--port", str(self.port), "--ak", AK, "--sk", SK,
            "--project-id", PROJECT_ID, "--scenario", str(SCENARIO), "--data-dir", str(self.data_dir),
            "--review-delay", str(self.review_delay), "--log-level", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "listening on" not in line:
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.url = line.strip().rsplit(" ", 1)[-1]
        self.port = int(self.url.rsplit(":", 1)[-1])
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class Rule:
    """When ``seen(request_log_entry)`` first matches, run ``action`` once."""

    name: str
    seen: Callable[[dict[str, Any]], bool]
    action: Callable[[], None]
    fired_at: float | None = None


@dataclass
class Watcher:
    """Polls the sandbox's request log and fires each rule once, the moment its request shows up.

    The log gets an entry when a request is answered, so "after the Update of job X" means after
    MetaStudio answered it, before the next task of the run starts.
    """

    base_url: str
    rules: list[Rule]
    interval: float = 0.05
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-watcher", daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set() and any(rule.fired_at is None for rule in self.rules):
            try:
                log = requests_log(self.base_url)
            except requests.RequestException:  # a restarting sandbox
                time.sleep(self.interval)
                continue
            for rule in self.rules:
                if rule.fired_at is None and any(rule.seen(entry) for entry in log):
                    try:
                        rule.action()
                    except Exception as exc:  # reported by the test, which checks .fired
                        self.errors.append(f"{rule.name}: {exc!r}")
                    rule.fired_at = time.monotonic()
            time.sleep(self.interval)

    def fired(self) -> dict[str, bool]:
        return {rule.name: rule.fired_at is not None for rule in self.rules}


def answered(method: str, operation: str, job_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """A :class:`Rule` predicate: a 2xx answer to that operation (on that job)."""

    def seen(entry: dict[str, Any]) -> bool:
        return (
            entry["method"] == method
            and entry["operation"] == operation
            and (entry.get("status") or 0) < 300
            and entry.get("status") is not None
            and (job_id is None or entry["path"].rstrip("/").endswith(job_id))
        )

    return seen


def set_state(base_url: str, job_id: str, state: str, **log: Any) -> Callable[[], None]:
    return lambda: admin(base_url, "PUT", f"/jobs/{job_id}/state", json={"state": state, **log})


def delete_job(base_url: str, job_id: str) -> Callable[[], None]:
    return lambda: requests.delete(f"{base_url}/_sandbox/jobs/{job_id}", timeout=10).raise_for_status()


# ----------------------------------------------------------------------------------------------
# Outcome checks
# ----------------------------------------------------------------------------------------------


def expected_files(assets: Path) -> dict[str, dict[tuple[str, int], str]]:
    """What each fixed job must have received, as (asset, part) -> SHA-256 (demo manifest)."""
    video = assets / "anchor-li" / "training_video.mp4"
    third = video.stat().st_size // 3
    anchor = {("training_video", part): sha256(video, (part - 1) * third, third) for part in (1, 2, 3)}
    anchor[("training_video", 0)] = sha256(video)
    return {
        ANCHOR: anchor,
        HOST: {
            ("id_card_image1", 0): sha256(assets / "host-wang" / "id_front.jpg"),
            ("id_card_image2", 0): sha256(assets / "host-wang" / "id_back.jpg"),
        },
        TEACHER: {("grant_file", 0): sha256(assets / "teacher-zhao" / "authorization_letter.pdf")},
    }


def received(base_url: str, job_id: str) -> dict[tuple[str, int], str]:
    return {(f["asset"], f["part"]): f["sha256"] for f in job_view(base_url, job_id)["files"]}


def assert_fixed(base_url: str, manifest: Path, jobs: Iterable[str] = FIXABLE) -> None:
    """Each job was resubmitted once, with exactly the corrected bytes."""
    wanted = expected_files(manifest.parent / "assets")
    for job_id in jobs:
        assert state_of(base_url, job_id) in SUBMITTED_STATES, job_id
        got = received(base_url, job_id)
        assert {key: got.get(key) for key in wanted[job_id]} == wanted[job_id], job_id


def assert_not_resubmitted(base_url: str, job_id: str, before: int = 1) -> None:
    """The job was not submitted by the run (the scenario's jobs were submitted once before)."""
    if state_of(base_url, job_id) != "DELETED":
        assert submissions(base_url, job_id) == before, job_id


def assert_alerts(base_url: str, run: Run, failed_jobs: Iterable[str]) -> list[dict[str, Any]]:
    """One alert iff something failed; it names exactly the failed jobs, each failure once."""
    failed_jobs = set(failed_jobs)
    sent = alerts(base_url)
    if not failed_jobs:
        assert sent == [], sent
        return []
    assert len(sent) == 1, sent
    errors = sent[0]["errors"]
    assert {error["job_id"] for error in errors} == failed_jobs, errors
    places = [(error.get("task_id"), error.get("map_index"), error.get("asset")) for error in errors]
    assert len(places) == len(set(places)), f"an error was reported twice: {errors}"
    assert {job for job, status in run.statuses().items() if status == "failed"} == failed_jobs
    return errors


def clear_alerts(base_url: str) -> None:
    requests.delete(f"{base_url}/_sandbox/webhooks/alerts", timeout=10)


def rewrite_manifest(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))


# ----------------------------------------------------------------------------------------------
# Leaks
# ----------------------------------------------------------------------------------------------


def metadata_rows(env: dict[str, str]) -> dict[str, str]:
    """Every XCom, rendered template field and task-state-store value of the Airflow home's SQLite DB, as text."""
    database = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    tables = {}
    with sqlite3.connect(database) as db:
        for table, columns in (
            ("xcom", "key, value"),
            ("rendered_task_instance_fields", "rendered_fields, k8s_pod_yaml"),
            ("task_state_store", "key, value"),
        ):
            out = []
            for row in db.execute(f"SELECT task_id, map_index, {columns} FROM {table}"):  # noqa: S608 - fixed names
                out.append(" ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row))
            tables[table] = "\n".join(out)
    return tables


def text_files(*roots: Path) -> dict[Path, str]:
    files: dict[Path, str] = {}
    for root in roots:
        if root.is_file():
            files[root] = root.read_text(errors="replace")
            continue
        for path in root.rglob("*") if root.exists() else ():
            if path.is_file() and path.suffix not in (".db", ".sqlite3") and path.stat().st_size < 50 * 2**20:
                files[path] = path.read_text(errors="replace")
    return files


def find_leaks(texts: dict[str, str], secrets: Iterable[str]) -> list[str]:
    secrets = [s for s in secrets if s]
    return [f"{where}: {secret[:12]}..." for where, text in texts.items() for secret in secrets if secret in text]


def url_signatures(sandbox: Any) -> list[str]:
    """The ``Signature=`` values of every presigned upload URL an in-thread sandbox issued."""
    store, signer = sandbox.store, sandbox.signer
    signatures = []
    for job in store.all_jobs():
        for url in store.urls_of(job["job_id"]):
            signatures.append(signer.signature("PUT", f"/_obs/upload/{url.url_id}", url.expires))
    return signatures


def copies_of(assets: Path, roots: Iterable[Path], since: float, exclude: Iterable[Path] = ()) -> list[Path]:
    """Files under ``roots`` (modified after ``since``) whose bytes equal an asset's: copies of the assets.

    ``exclude``: where copies belong (the assets themselves, the sandbox's received files).
    """
    skip = [assets, *exclude]
    digests = {}
    for path in assets.rglob("*"):
        if path.is_file():
            digests.setdefault(path.stat().st_size, set()).add(hashlib.sha256(path.read_bytes()).hexdigest())
    found = []
    for root in roots:
        for path in root.rglob("*") if root.exists() else ():
            try:
                if not path.is_file() or path.is_symlink() or any(path.is_relative_to(p) for p in skip):
                    continue
                stat = path.stat()
                if stat.st_mtime < since or stat.st_size not in digests:
                    continue
                if hashlib.sha256(path.read_bytes()).hexdigest() in digests[stat.st_size]:
                    found.append(path)
            except OSError:
                continue
    return found
