"""`make demo`: run the remediation DAG end to end against a local MetaStudio sandbox.

Starts the sandbox with the demo scenario (``scenario.yaml``, shared with the tests, plus
``scenario_refused.yaml`` and ``scenario_repaired.yaml``), prepares a throw-away Airflow home
under ``var/demo/`` (SQLite, a Fernet key, the two connections as environment variables, the
``metastudio_api`` pool), generates the demo assets (real, small media), runs ``airflow dags test
metastudio_training_remediation`` with ``wait_for_review``, and prints what the sandbox ended up
with: job states, alerts posted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml
from cryptography.fernet import Fernet

from metastudio_sandbox.launch import spawn

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "include" / "demo"))
from make_assets import write_assets, write_refused_assets, write_repaired_assets  # noqa: E402 - a sibling script

DAG_ID = "metastudio_training_remediation"
ACCESS_KEY, SECRET_KEY = "DEMOACCESSKEY0000001", "demo-secret-key-0123456789abcdef"  # sandbox-only credentials
PROJECT_ID = "0a11ce0000000000000000000000beef"


def start_sandbox(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    return spawn(
        "--ak",
        ACCESS_KEY,
        "--sk",
        SECRET_KEY,
        "--project-id",
        PROJECT_ID,
        "--scenario",
        str(PROJECT / "include" / "demo" / "scenario.yaml"),
        "--data-dir",
        str(data_dir),
        "--review-delay",
        "1",
    )


def start_demo_sandbox(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """The sandbox with every demo scenario (scenario.yaml, scenario_refused.yaml, scenario_repaired.yaml)."""
    sandbox, url = start_sandbox(data_dir)
    try:
        for name in ("scenario_refused.yaml", "scenario_repaired.yaml"):
            extra = yaml.safe_load((PROJECT / "include" / "demo" / name).read_text())
            requests.post(f"{url}/_sandbox/scenario", json=extra, timeout=10).raise_for_status()
    except BaseException:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        raise
    return sandbox, url


def airflow_env(home: Path, sandbox_url: str) -> dict[str, str]:
    connection = {
        "conn_type": "metastudio",
        "host": sandbox_url,
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"project_id": PROJECT_ID, "read_timeout": 30, "retry_limit": 3},
    }
    alerts = {"conn_type": "http", "host": f"{sandbox_url}/_sandbox/webhooks/alerts"}
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_CONN_METASTUDIO_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_METASTUDIO_ALERTS": json.dumps(alerts),
        "METASTUDIO_REVIEW_POLL_SECONDS": "2",
    }


def airflow(env: dict[str, str], *args: str, quiet: bool = False) -> None:
    output = subprocess.DEVNULL if quiet else None
    subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], env=env, check=True, stdout=output)


FIXED = ("0a11ce0000000000000000000000a001", "0a11ce0000000000000000000000a002", "0a11ce0000000000000000000000a003")
REFUSED = "0a11ce0000000000000000000000a008"  # its correction asks MetaStudio for something it refuses
STOPPED = "0a11ce0000000000000000000000a009"  # its replacement video is too short: stopped at pre-flight
REPAIRED = "0a11ce0000000000000000000000a010"  # a 10 min 40 s .mov: remuxed and trimmed by the DAG


def show_outcome(sandbox_url: str) -> bool:
    """Print what the sandbox holds now; True when it is what the demo is meant to show."""
    jobs = {
        entry["job"]["job_id"]: entry["job"]
        for entry in requests.get(f"{sandbox_url}/_sandbox/jobs", timeout=10).json()["jobs"]
    }
    print("\nSandbox jobs after the run:")
    for job in jobs.values():
        print(f"  {job['job_id']}  {job['state']:<22} {job['name']}")
    calls = requests.get(f"{sandbox_url}/_sandbox/requests", timeout=10).json()["requests"]
    touched = [call for call in calls if call["method"] != "GET" and STOPPED in call["path"]]
    print(f"\nRequests that changed job {STOPPED} (stopped at pre-flight): {len(touched)}")
    alerts = requests.get(f"{sandbox_url}/_sandbox/webhooks/alerts", timeout=10).json()["calls"]
    print(f"\nAlerts received by the sandbox's webhook sink: {len(alerts)}")
    for alert in alerts:
        print(json.dumps(alert["body"], indent=2, ensure_ascii=False))
    fixed = all(jobs[job_id]["state"] == "MANUAL_VERIFY_SUCCESS" for job_id in (*FIXED, REPAIRED))
    video = requests.get(f"{sandbox_url}/_sandbox/jobs/{REPAIRED}", timeout=10).json()["files"]
    received = [f for f in video if f["asset"] == "training_video" and f["part"] == 0]
    print(
        f"\nJob {REPAIRED} (a .mov of 10 min 40 s, repaired by the DAG): {jobs[REPAIRED]['state']}; "
        f"training video received: {received[0]['size'] if received else 0} bytes, sha256 "
        f"{received[0]['sha256'] if received else '-'}"
    )
    repaired = [entry for alert in alerts for entry in alert["body"]["summary"].get("repaired", [])]
    errors = {error["job_id"]: error for alert in alerts for error in alert["body"]["errors"]}
    alerted = (
        len(alerts) == 1
        and set(errors) == {REFUSED, STOPPED}
        and errors[REFUSED]["error_code"] == "MSS.00000003"
        and [finding["rule"] for finding in errors[STOPPED].get("findings", [])] == ["video.duration"]
    )
    untouched = not touched and jobs[STOPPED]["state"] == "AUTO_VERIFY_FAILED"
    said = [entry["job_id"] for entry in repaired] == [REPAIRED] and bool(received)
    said = said and repaired[0]["sent_sha256"] == received[0]["sha256"]  # the alert names the bytes received
    return fixed and alerted and untouched and said and jobs[REFUSED]["state"] == "AUTO_VERIFY_FAILED"


def main() -> int:
    var = PROJECT / "var" / "demo"
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    assets = PROJECT / "include" / "corrections" / "assets"
    for path in write_assets(assets) + write_refused_assets(assets) + write_repaired_assets(assets):
        print(f"demo asset {path.relative_to(PROJECT)} ({path.stat().st_size} bytes)")
    sandbox, url = start_demo_sandbox(var / "sandbox")
    print(f"sandbox at {url}")
    try:
        env = airflow_env(var / "airflow", url)
        airflow(env, "db", "migrate", quiet=True)
        airflow(env, "pools", "set", "metastudio_api", "8", "MetaStudio API calls and uploads", quiet=True)
        result = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", DAG_ID, "-c", '{"wait_for_review": true}'],
            env=env,
            check=False,
        )
        as_intended = show_outcome(url)
        print(f"\nRun report (JSON): {var / 'airflow' / 'metastudio_reports' / DAG_ID}")
        if as_intended and result.returncode != 0:
            print(
                "\nDemo complete: 3 jobs fixed and passed review; 1 job whose phone recording (.mov, 10 min 40 s)\n"
                "was remuxed to MP4 and trimmed to 9 min 50 s by the DAG, uploaded and passed review; 1 job\n"
                "without a correction skipped; 1 job stopped before upload because its replacement video is\n"
                "too short (nothing sent, its state kept, reported as needing a person); 1 job refused by\n"
                "MetaStudio (MSS.00000003). One alert lists both errors and the repair. The DAG run is marked\n"
                "failed because a job failed, which is what it should do."
            )
            return 0
        print("\nThe demo did not end as intended; see the output above.")
        return 1
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
