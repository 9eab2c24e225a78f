"""The wheels a team adds to an Airflow it already runs, installed the way it would install them.

Builds ``airflow-provider-metastudio`` and ``metastudio-remediation-dag`` from a staged copy of
their sources (the checkout is left as it was), installs them into a fresh virtual environment
with nothing but their declared dependencies (versions held to this Python's lock), and runs that
environment's ``airflow`` from outside the checkout, with an ``AIRFLOW_HOME`` whose DAGs folder
holds only the DAG file. Only the sandbox runs from the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from metastudio_provider.hooks.connection_config import ALLOWED_EXTRAS
from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.dags.test_remediation_e2e import ANCHOR, DAG_ID, FLEXUS, HOST, PROJECT, REPORTER, TEACHER, write_manifest
from tests.reliability.harness import AK, PROJECT_ID, SCENARIO, SK, run_env

pytestmark = pytest.mark.slow

PROVIDER, DAG_PACKAGE = "airflow-provider-metastudio", "metastudio-remediation-dag"
# Where each distribution's sources live in the checkout (their pyproject.toml files point there).
SOURCES = {PROVIDER: "plugins/metastudio_provider", DAG_PACKAGE: "include/metastudio_remediation"}
DAG_FILE = PROJECT / "dags" / "metastudio_training_remediation.py"
LOCK = PROJECT / f"constraints-{sys.version_info.major}.{sys.version_info.minor}.txt"
INSTALL_TIMEOUT = 900  # a fresh Airflow from pip's cache on 2 busy cores


@dataclass
class Installed:
    """The fresh environment: its ``airflow`` run with ``env`` from ``cwd`` (outside the checkout)."""

    venv: Path
    wheels: dict[str, Path]
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            env=env or self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"{' '.join(args[:3])} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    def json(self, *args: str) -> Any:
        """``airflow ARGS -o json``: the JSON line of its output (log lines may come first)."""
        output = self.run("airflow", *args, "-o", "json")
        documents = [line for line in output.splitlines() if line.startswith(("[", "{"))]
        if not documents:
            assert "No data found" in output, output[-3000:]  # how Airflow prints an empty list
            return []
        return json.loads(documents[-1])


def build_wheels(stage: Path, out: Path) -> dict[str, Path]:
    """``pip wheel`` each distribution from a copy of its folder and its package's sources."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name, source in SOURCES.items():
        shutil.copytree(PROJECT / "distributions" / name, stage / "distributions" / name, ignore=ignore)
        shutil.copytree(PROJECT / source, stage / source, ignore=ignore)
    folders = [str(stage / "distributions" / name) for name in SOURCES]
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *folders]
    subprocess.run(command, check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
    return {name: next(out.glob(f"{name.replace('-', '_')}-*.whl")) for name in SOURCES}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("packaging")
    wheels = build_wheels(work / "stage", work / "wheels")
    environment = work / "venv"
    venv.create(environment, with_pip=True)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *map(str, wheels.values()), "-c", str(LOCK)], check=True, timeout=INSTALL_TIMEOUT)
    home = work / "airflow-home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DAG_FILE, home / "dags")
    env = {
        "PATH": f"{environment / 'bin'}:/usr/bin:/bin",
        "HOME": str(work),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "METASTUDIO_REVIEW_POLL_SECONDS": "1",
    }
    result = Installed(environment, wheels, env, cwd=work)
    result.run("airflow", "db", "migrate", timeout=600)
    result.run("airflow", "pools", "set", "metastudio_api", "8", "MetaStudio API calls and uploads")
    return result


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=SCENARIO, review_delay=0.3) as server:
        yield server


def test_each_wheel_carries_only_its_own_package(installed: Installed) -> None:
    for name, wheel in installed.wheels.items():
        packages = {entry.split("/", 1)[0] for entry in zipfile.ZipFile(wheel).namelist() if "/" in entry}
        own = SOURCES[name].rsplit("/", 1)[-1]
        assert {package for package in packages if not package.endswith(".dist-info")} == {own}, (name, packages)
    with zipfile.ZipFile(installed.wheels[PROVIDER]) as wheel:
        entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
        assert "[apache_airflow_provider]" in wheel.read(entry_points).decode()
    assert "metastudio_remediation/manifest.schema.json" in zipfile.ZipFile(installed.wheels[DAG_PACKAGE]).namelist()


def test_the_environment_holds_the_installed_packages_and_no_checkout(installed: Installed) -> None:
    probe = (
        "import importlib.util, json, metastudio_provider, metastudio_remediation;"
        "print(json.dumps([metastudio_provider.__file__, metastudio_remediation.__file__,"
        " importlib.util.find_spec('metastudio_sandbox') is None, importlib.util.find_spec('pytest') is None]))"
    )
    provider_file, dag_package_file, no_sandbox, no_pytest = json.loads(installed.run("python", "-c", probe))
    site = str(installed.venv / "lib")
    assert provider_file.startswith(site) and dag_package_file.startswith(site)
    assert no_sandbox and no_pytest  # nothing from the checkout, nothing the wheels do not declare


def test_airflow_lists_the_provider(installed: Installed) -> None:
    providers = {row["package_name"]: row for row in installed.json("providers", "list")}
    assert providers[PROVIDER]["version"] == "0.1.0"


def test_the_connection_form_offers_the_metastudio_fields(installed: Installed) -> None:
    hooks = {row["connection_type"]: row for row in installed.json("providers", "hooks")}
    assert hooks["metastudio"]["package_name"] == PROVIDER
    assert hooks["metastudio"]["hook_name"] == "Huawei Cloud MetaStudio"
    widgets = installed.json("providers", "widgets")
    offered = {
        row["connection_parameter_name"].rsplit("__", 1)[-1] for row in widgets if row["package_name"] == PROVIDER
    }
    assert offered == set(ALLOWED_EXTRAS)  # the form offers exactly the extras the hook accepts


def test_the_dag_parses_from_a_folder_holding_only_the_dag_file(installed: Installed) -> None:
    assert [path.name for path in Path(installed.env["AIRFLOW__CORE__DAGS_FOLDER"]).iterdir()] == [DAG_FILE.name]
    dags = {row["dag_id"]: row for row in installed.json("dags", "list", "--local")}
    assert DAG_ID in dags
    assert installed.json("dags", "list-import-errors", "--local") == []


def test_a_run_against_the_sandbox_remediates_the_jobs(
    installed: Installed, sandbox: SandboxServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, with_flexus=False)
    env = run_env(installed.env, sandbox.url, manifest)
    installed.run("airflow", "dags", "test", DAG_ID, "-c", json.dumps({"wait_for_review": True}), env=env, timeout=600)
    jobs = requests.get(f"{sandbox.url}/_sandbox/jobs", timeout=10).json()["jobs"]
    states = {entry["job"]["job_id"]: entry["job"]["state"] for entry in jobs}
    assert {job: states[job] for job in (ANCHOR, HOST, TEACHER)} == dict.fromkeys(
        (ANCHOR, HOST, TEACHER), "MANUAL_VERIFY_SUCCESS"
    )
    assert states[REPORTER] == "AUTO_VERIFY_FAILED" and states[FLEXUS] == "AUTO_VERIFY_FAILED"  # not in the manifest
    (report,) = (manifest.parent / "reports").rglob("*.json")
    assert json.loads(report.read_text())["totals"] == {"remediated": 3, "skipped": 2}
