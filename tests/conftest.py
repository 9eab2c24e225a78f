"""Test-wide settings: an isolated AIRFLOW_HOME and a Fernet key, set before Airflow is imported."""

from __future__ import annotations

import os
import tempfile

from cryptography.fernet import Fernet

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="metastudio-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())

pytest_plugins = ["tests.support.fixtures"]
