"""Load the remediation DAG object from its file (for param checks) without a DagBag."""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

from tests.reliability.harness import DAG_ID, PROJECT


@cache
def remediation_dag() -> Any:
    path = PROJECT / "dags" / f"{DAG_ID}.py"
    spec = importlib.util.spec_from_file_location("reliability_remediation_dag", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, DAG_ID)()  # the @dag function builds the DAG
