"""`make ui` as a person uses it: start it, log in, see the DAG, trigger a run, press Ctrl-C.

Runs ``include/demo/ui.py`` (what ``make ui`` runs) on a free port and a temporary folder, reads
the URL and the login it prints, and uses the REST API as the UI does. The run is the demo's:
three jobs fixed and passing review (through the triggerer), one refused by MetaStudio, one
stopped at pre-flight, one alert; so the run ends failed, as ``make demo`` explains.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.dags.test_remediation_e2e import DAG_ID, PROJECT

sys.path.insert(0, str(PROJECT / "include" / "demo"))
from run_demo import show_outcome  # a demo script: what `make demo` calls a good outcome

pytestmark = pytest.mark.slow

UI_SCRIPT = PROJECT / "include" / "demo" / "ui.py"
START_TIMEOUT = 420  # seconds until the login is printed: database, four Airflow processes, DAG parsing
RUN_TIMEOUT = 420
STOP_TIMEOUT = 60


@dataclass
class RunningUi:
    """The ``make ui`` process and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def printed(self, pattern: str) -> str | None:
        for line in self.lines:
            if match := re.search(pattern, line):
                return match.group(1)
        return None

    def output(self) -> str:
        return "\n".join(self.lines[-80:])


def _read(ui: RunningUi) -> None:
    assert ui.process.stdout is not None
    for line in ui.process.stdout:
        ui.lines.append(line.rstrip("\n"))


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[RunningUi]:
    command = [sys.executable, str(UI_SCRIPT), "--port", "0", "--workdir", str(tmp_path / "ui")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    running = RunningUi(process)
    threading.Thread(target=_read, args=(running,), daemon=True).start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until(what: str, check: Any, timeout: float, ui: RunningUi) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert ui.process.poll() is None, (
            f"make ui exited {ui.process.returncode} while waiting for {what}:\n{ui.output()}"
        )
        try:
            if result := check():
                return result
        except requests.RequestException:
            pass
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{ui.output()}")


def test_make_ui_serves_the_dag_runs_it_and_stops_on_ctrl_c(ui: RunningUi) -> None:
    wait_until("the login to be printed", lambda: ui.printed(r"^Login:\s+admin / (\S+)$"), START_TIMEOUT, ui)
    url, password = ui.printed(r"^Airflow UI:\s+(\S+)$"), ui.printed(r"^Login:\s+admin / (\S+)$")
    sandbox = ui.printed(r"^Sandbox:\s+(http://\S+?)/_sandbox/jobs")
    progress = [line for line in ui.lines if re.match(r"^\[\s*\d+s\] ", line)]
    assert len(progress) >= 4, ui.output()  # it says what it is doing while it starts

    assert requests.get(f"{url}/", timeout=30).ok  # the UI's page
    assert requests.get(f"{url}/api/v2/dags/{DAG_ID}", timeout=30).status_code == 401  # a login is needed
    token = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    assert token.status_code == 201, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def api(method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{url}/api/v2{path}", headers=headers, timeout=30, **kwargs)
        assert response.ok, f"{method} {path} -> {response.status_code}: {response.text[:1000]}"
        return response.json()

    assert api("GET", f"/dags/{DAG_ID}")["is_paused"] is False
    assert api("GET", "/connections/metastudio_default")["conn_type"] == "metastudio"
    assert api("GET", "/connections/metastudio_alerts")["host"] == f"{sandbox}/_sandbox/webhooks/alerts"
    assert api("GET", "/pools/metastudio_api")["slots"] == 8
    manifest = api("GET", "/variables/metastudio_corrections_path")["value"]
    assert Path(manifest) == PROJECT / "include" / "corrections" / "corrections.yaml"

    run = api("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"wait_for_review": True}})
    path = f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}"
    wait_until("the run to finish", lambda: api("GET", path)["state"] in ("success", "failed"), RUN_TIMEOUT, ui)
    assert api("GET", path)["state"] == "failed"  # the refused job fails it, by design
    assert show_outcome(sandbox)  # 3 fixed and reviewed, 1 refused, 1 stopped at pre-flight, 1 alert

    ui.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert ui.process.wait(timeout=STOP_TIMEOUT) == 0, ui.output()
    time.sleep(1)  # the reader thread catches up with the last lines
    assert ui.lines[-1].endswith("] stopped"), ui.output()
    for gone in (url, sandbox):
        with pytest.raises(requests.ConnectionError):
            requests.get(gone, timeout=5)
