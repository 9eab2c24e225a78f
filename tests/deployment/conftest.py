"""Attach the distributed stack's process logs to the report of any failing test that used it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("distributed_run")
    if report.failed and stack is not None:
        report.sections.append(("process logs (tails)", stack.stack.tails()))
