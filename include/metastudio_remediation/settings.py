"""Defaults that depend on where the project is installed, resolved at run time (never at DAG parse)."""

from __future__ import annotations

import os
from pathlib import Path

_INCLUDE_DIR = Path(__file__).resolve().parent.parent


def default_manifest_path() -> str:
    """``include/corrections/corrections.yaml`` of this project."""
    return str(_INCLUDE_DIR / "corrections" / "corrections.yaml")


def default_report_dir() -> str:
    """``$AIRFLOW_HOME/metastudio_reports``."""
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return str(Path(home) / "metastudio_reports")
