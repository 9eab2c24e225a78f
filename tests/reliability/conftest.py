"""Fixtures of the reliability suite: one migrated Airflow home, a fresh sandbox and manifest per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metastudio_sandbox.server import SandboxServer, run_in_thread
from tests.dags.test_remediation_e2e import make_airflow_home
from tests.reliability.harness import AK, PROJECT_ID, SCENARIO, SK, write_manifest


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_airflow_home(tmp_path_factory.mktemp("reliability-airflow-home"))


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=SCENARIO, review_delay=0.3) as server:
        yield server


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """The demo manifest on fresh assets, without the Flexus job MetaStudio refuses."""
    return write_manifest(tmp_path, with_flexus=False)
