"""Fixtures of the browser tests: one Airflow stack and one headless Chromium for the whole package.

The browser is Debian's Chromium (``/usr/bin/chromium``, or ``METASTUDIO_CHROMIUM``) driven by
Playwright; nothing is downloaded at run time. ``make test`` installs it when it is missing
(``tests/ui/install_browser.sh``). Where there is no browser the tests are skipped with a loud
message naming the reason; ``METASTUDIO_UI_REQUIRED=1`` turns that into a failure.

Screenshots go to ``var/ui-screenshots/`` (or ``METASTUDIO_UI_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.stack import UiStack, start_ui_stack, stop_ui_stack

PROJECT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("METASTUDIO_CHROMIUM", "/usr/bin/chromium")
# What the machine allows (docs of this workplace): no sandbox as root, no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000  # generous: the SPA and the api-server share 2 busy cores


def _skip_loudly(reason: str) -> None:
    message = f"BROWSER TESTS NOT RUN: {reason}"
    sys.__stderr__.write("\n" + "!" * 100 + f"\n{message}\n" + "!" * 100 + "\n")
    warnings.warn(message, stacklevel=2)
    if os.environ.get("METASTUDIO_UI_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _skip_loudly(f"Playwright is not installed ({exc}); run `make test`, which installs requirements-dev.txt")
    if not os.access(CHROMIUM, os.X_OK):
        _skip_loudly(
            f"no Chromium at {CHROMIUM}; `make test` installs Debian's chromium and chromium-driver where it can "
            "(root with apt-get), or set METASTUDIO_CHROMIUM"
        )


@pytest.fixture(scope="package")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    _require_browser()
    stack = start_ui_stack(tmp_path_factory.mktemp("ui"))
    try:
        yield stack
    finally:
        stop_ui_stack(stack)


@pytest.fixture(scope="package")
def browser(ui: UiStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    folder = Path(os.environ.get("METASTUDIO_UI_SCREENSHOTS", PROJECT / "var" / "ui-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing browser test shows the page it was on and the tails of the Airflow process logs."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when != "call":
        return
    funcargs = getattr(item, "funcargs", {})
    if (page := funcargs.get("page")) is not None and (folder := funcargs.get("shots")) is not None:
        try:
            path = folder / f"FAILED-{item.name}.png"
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("page", f"{page.url}\nscreenshot: {path}"))
        except Exception as exc:  # the page may be gone
            report.sections.append(("page", f"no screenshot: {exc!r}"))
    if (stack := funcargs.get("ui")) is not None:
        report.sections.append(("Airflow process logs (tails)", stack.tails()))
