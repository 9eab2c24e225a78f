"""The run's settings: defaults that depend on where the project is installed, and the Variables that
override them; resolved at run time (never at DAG parse)."""

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


def manifest_path(param: str | None) -> str:
    """The trigger form's path, else Variable ``metastudio_corrections_path``, else the bundled manifest."""
    from airflow.sdk import Variable

    return param or Variable.get("metastudio_corrections_path", default_manifest_path())


def report_dir() -> str:
    """Variable ``metastudio_report_dir``, else :func:`default_report_dir`."""
    from airflow.sdk import Variable

    return Variable.get("metastudio_report_dir", default_report_dir())


def part_size() -> int:
    """Bytes per video part: Variable ``metastudio_part_size_mb`` (default 256) MiB."""
    from airflow.sdk import Variable

    return int(Variable.get("metastudio_part_size_mb", 256)) * 1024 * 1024


def max_rejections() -> int:
    """The loop guard: Variable ``metastudio_max_rejections`` (default 3)."""
    from airflow.sdk import Variable

    return int(Variable.get("metastudio_max_rejections", 3))


def upload_concurrency(default: int) -> int:
    """Parts uploaded at once per job: Variable ``metastudio_upload_concurrency``, else ``default``."""
    from airflow.sdk import Variable

    return int(Variable.get("metastudio_upload_concurrency", default))
