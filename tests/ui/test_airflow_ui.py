"""The Airflow UI in a real browser: connection form, trigger form, grid and task log.

Everything is checked by what the page shows (labels, descriptions, messages, log lines), with
explicit waits on page content; the REST API and the sandbox are only asked to confirm what the
page claims (a connection stored, a run finished, nothing sent to MetaStudio). Screenshots of
each page are written to ``var/ui-screenshots/`` (see ``conftest.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest

from metastudio_provider.get_provider_info import get_provider_info
from metastudio_provider.models import JOB_ID_SCHEMA_PATTERN
from tests.reliability.harness import AK, DAG_ID, FIXABLE, FLEXUS, PROJECT_ID, SK, calls
from tests.ui.stack import UiStack

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 420  # seconds for a run of four jobs on a busy 2-core machine
UI_CONN_ID = "metastudio_ui"
SELECTED = [*FIXABLE, FLEXUS]  # three fixable jobs and the one MetaStudio refuses (MSS.00000003)


def expect(locator: Any) -> Any:
    """Playwright's ``expect`` (imported here: without Playwright the module still collects, then skips)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def label(scope: Any, text: str) -> Any:
    """A form field's label, with or without the required-field star."""
    return scope.locator("label").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*\*?\s*$"))


def tall_screenshot(page: Any, path: Path, height: int = 2000) -> None:
    """A screenshot of a whole dialog: the dialog scrolls inside the viewport, so make the viewport tall."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    try:
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def run_url(ui: UiStack, run_id: str, suffix: str = "") -> str:
    return f"{ui.api}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}{suffix}"


def open_trigger_form(page: Any, ui: UiStack) -> Any:
    page.goto(f"{ui.api}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Run Parameters")).to_be_visible()
    return dialog


def dag_runs(ui: UiStack) -> list[dict[str, Any]]:
    return ui.rest("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]


def report_of(ui: UiStack, run_id: str) -> dict[str, Any]:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
    return json.loads((ui.report_dir / DAG_ID / f"{safe}.json").read_text())


# --- the connection form -----------------------------------------------------------------------


def test_connection_form_offers_metastudio_fields_and_saves_a_usable_connection(
    page: Any, ui: UiStack, shots: Path
) -> None:
    page.goto(f"{ui.api}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(UI_CONN_ID)
    dialog.get_by_role("combobox").fill("MetaStudio")
    page.get_by_role("option", name="Huawei Cloud MetaStudio").click()

    # Standard fields: relabelled for MetaStudio; schema and port (unused) are not shown.
    for shown in ("MetaStudio endpoint URL", "Access key (AK)", "Secret key (SK) or IAM password"):
        expect(dialog.get_by_label(shown)).to_be_visible()
    for unused in ("Schema", "Port", "Host", "Login", "Password"):
        expect(dialog.get_by_text(unused, exact=True)).to_have_count(0)
    dialog.get_by_label("MetaStudio endpoint URL").fill(ui.sandbox_url)
    dialog.get_by_label("Access key (AK)").fill(AK)
    dialog.get_by_label("Secret key (SK) or IAM password").fill(SK)

    # The extra fields: every key the hook accepts, with its label and description, as the provider
    # describes them (the one description the hook's validation is built from too).
    dialog.get_by_text("Extra Fields", exact=True).click()
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    for field in fields.values():
        expect(label(dialog, field["label"])).to_be_visible()
        expect(dialog.get_by_text(field["description"], exact=True).first).to_be_visible()
    save = dialog.get_by_role("button", name="Save")
    expect(dialog.get_by_text("This field is required")).to_be_visible()  # the project id
    expect(save).to_be_disabled()

    # The form's labels point at other ids than its inputs, so the extra fields are found by name.
    dialog.locator("input[name=element_project_id]").fill(PROJECT_ID)
    dialog.locator("input[name=element_read_timeout]").fill("30")
    expect(save).to_be_enabled()
    tall_screenshot(page, shots / "connection-form.png")
    save.click()

    expect(page.get_by_text("Connection has been successfully created")).to_be_visible()
    # The closing dialog still holds what was typed until it leaves the page; the list is checked
    # afresh, as a person who opens it later sees it.
    expect(dialog).to_have_count(0)
    page.reload()
    row = page.get_by_role("row").filter(has_text=UI_CONN_ID)
    expect(row).to_contain_text("metastudio")
    expect(row).to_contain_text(ui.sandbox_url)
    assert SK not in page.content()

    stored = ui.rest("GET", f"/connections/{UI_CONN_ID}")
    assert (stored["conn_type"], stored["host"], stored["login"]) == ("metastudio", ui.sandbox_url, AK)
    extras = json.loads(stored["extra"])
    assert (extras["project_id"], extras["read_timeout"]) == (PROJECT_ID, 30)
    # Usable as saved: Airflow's connection test (the hook's test_connection, in the api-server, with the
    # stored secret key) lists the sandbox's jobs.
    body = {"connection_id": UI_CONN_ID, "conn_type": "metastudio", "host": ui.sandbox_url}
    tested = ui.rest("POST", "/connections/test", json=body)
    assert tested["status"] is True and tested["message"].startswith("Connected to MetaStudio"), tested


# --- the trigger form ---------------------------------------------------------------------------


def test_trigger_form_shows_every_param_with_its_title_and_description(page: Any, ui: UiStack, shots: Path) -> None:
    params = ui.rest("GET", f"/dags/{DAG_ID}/details")["params"]
    dialog = open_trigger_form(page, ui)
    for name, param in params.items():
        schema = param.get("schema") or {}
        title, description = schema.get("title"), param.get("description")
        assert title and description, f"param {name!r} needs a title and a description: {param}"
        expect(label(dialog, title)).to_be_visible()
        expect(dialog.get_by_text(description, exact=True)).to_be_visible()
    tall_screenshot(page, shots / "trigger-form.png")


def test_trigger_form_refuses_an_invalid_job_id_with_the_schema_message(page: Any, ui: UiStack) -> None:
    runs_before = len(dag_runs(ui))
    dialog = open_trigger_form(page, ui)
    dialog.locator("textarea[name=element_job_ids]").fill(f"{FIXABLE[0]}\nnot a job id!")
    dialog.get_by_role("button", name="Trigger").click()
    expect(page.get_by_text("Failed to Trigger Dag")).to_be_visible()
    expect(dialog).to_contain_text("Invalid input for param job_ids: 'not a job id!' does not match")
    expect(dialog).to_contain_text(repr(JOB_ID_SCHEMA_PATTERN))  # jsonschema quotes it with %r
    assert len(dag_runs(ui)) == runs_before  # no run
    assert calls(ui.sandbox_url, "PUT", "update") == []  # nothing sent to MetaStudio


@pytest.fixture(scope="module")
def form_run(ui: UiStack, browser: Any, shots: Path) -> dict[str, Any]:
    """A run triggered from the form with four job ids, waited for until it finished."""
    page = browser.new_page()
    try:
        before = {run["dag_run_id"] for run in dag_runs(ui)}
        dialog = open_trigger_form(page, ui)
        dialog.locator("textarea[name=element_job_ids]").fill("\n".join(SELECTED))
        dialog.get_by_role("button", name="Trigger").click()
        expect(dialog).to_be_hidden()
    finally:
        page.close()

    def new_run() -> dict[str, Any] | None:
        return next((run for run in dag_runs(ui) if run["dag_run_id"] not in before), None)

    run = ui.wait_for("the run triggered from the form", new_run, 60)

    def finished() -> dict[str, Any] | None:
        current = ui.rest("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run['dag_run_id'], safe='')}")
        return current if current["state"] in ("success", "failed") else None

    return ui.wait_for(f"run {run['dag_run_id']} to finish", finished, RUN_TIMEOUT, interval=2)


def test_a_valid_trigger_from_the_form_runs_against_the_sandbox(form_run: dict[str, Any], ui: UiStack) -> None:
    assert form_run["conf"]["job_ids"] == SELECTED
    assert form_run["state"] == "failed"  # by design: MetaStudio refuses the Flexus job's correction
    report = report_of(ui, form_run["dag_run_id"])
    statuses = {row["job_id"]: row["status"] for row in report["jobs"]}
    assert {job: statuses[job] for job in FIXABLE} == dict.fromkeys(FIXABLE, "resubmitted")
    assert statuses[FLEXUS] == "failed"
    assert sorted(call["path"].rsplit("/", 1)[-1] for call in calls(ui.sandbox_url, "PUT", "update")) == sorted(
        SELECTED
    )


def test_grid_shows_mapped_tasks_labelled_by_job_and_asset(
    form_run: dict[str, Any], page: Any, ui: UiStack, shots: Path
) -> None:
    run_id = form_run["dag_run_id"]
    instances = ui.rest("GET", f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances", params={"limit": 100})
    mapped = [ti for ti in instances["task_instances"] if ti["map_index"] >= 0 and ti["task_id"] != "wait_for_review"]
    labels = {ti["task_id"]: [] for ti in mapped}
    for ti in mapped:
        labels[ti["task_id"]].append(ti["rendered_map_index"])
    assert labels, instances
    for job_id in SELECTED:  # every job has a mapped instance named after it
        assert any(label and label.startswith(job_id) for task in labels.values() for label in task), labels

    page.goto(run_url(ui, run_id))
    for task_labels in labels.values():
        for label in task_labels:
            expect(page.get_by_role("link", name=label, exact=True)).to_be_visible()
    page.screenshot(path=str(shots / "grid.png"))
    task_id = next(iter(labels))
    page.goto(run_url(ui, run_id, f"/tasks/{task_id}/mapped"))
    for label in labels[task_id]:
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    page.screenshot(path=str(shots / "mapped-tasks.png"))


def test_the_grid_shows_the_refused_jobs_own_task_instance_failed_and_its_siblings_green(
    form_run: dict[str, Any], page: Any, ui: UiStack, shots: Path
) -> None:
    """The grid tells the truth: the job MetaStudio refused has its own red instance; the others went on."""
    run_id = form_run["dag_run_id"]
    path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/remediate_job/listMapped"
    instances = {ti["rendered_map_index"]: ti for ti in ui.rest("GET", path)["task_instances"]}
    (flexus,) = [label for label in instances if label and label.startswith(FLEXUS)]
    assert (instances[flexus]["state"], instances[flexus]["try_number"]) == ("failed", 1)  # not retried
    others = [ti["state"] for label, ti in instances.items() if label != flexus]
    assert others and set(others) == {"success"}

    page.goto(run_url(ui, run_id, "/tasks/remediate_job/mapped"))
    row = page.get_by_role("row").filter(has_text=flexus)
    expect(row.get_by_role("cell", name="Failed", exact=True)).to_be_visible()  # the state badge, drawn red
    for label in instances:
        if label != flexus:
            row = page.get_by_role("row").filter(has_text=label)
            expect(row.get_by_role("cell", name="Success", exact=True)).to_be_visible()
    page.screenshot(path=str(shots / "failed-job-instance.png"))

    # The error (code, message, request id) ends that instance's own log: it is the last event before
    # Airflow's folded "Post Execute" group (its bookkeeping after every task).
    logs = ui.rest(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/remediate_job/logs/1",
        params={"map_index": instances[flexus]["map_index"]},
        headers={"Accept": "application/json"},
    )
    events = logs["content"]
    post = max(i for i, event in enumerate(events) if event.get("event") == "::group::Post Execute")
    last = json.dumps(events[post - 1])
    assert "JobRemediationFailed" in last and "MSS.00000003" in last and "request id" in last, last


def test_failed_job_task_log_shows_the_mss_error_and_its_request_id_and_no_secret(
    form_run: dict[str, Any], page: Any, ui: UiStack, shots: Path
) -> None:
    run_id = form_run["dag_run_id"]
    (error,) = [e for e in report_of(ui, run_id)["errors"] if e["job_id"] == FLEXUS]
    assert error["error_code"] == "MSS.00000003" and error["request_id"]
    page.goto(run_url(ui, run_id, f"/tasks/{error['task_id']}/mapped/{error['map_index']}"))
    line = page.get_by_text(re.compile(r"MSS\.00000003.*request id"))
    expect(line.first).to_be_visible()
    expect(line.first).to_contain_text(error["request_id"])
    expect(line.first).to_contain_text(FLEXUS)
    text = page.inner_text("body")
    assert AK not in text and SK not in text and "Signature=" not in text
    page.keyboard.press("w")  # the log viewer's shortcut: wrap long lines (for the screenshot)
    page.screenshot(path=str(shots / "task-log.png"))


def test_the_run_note_shows_the_report_and_links_to_the_failed_task_log(
    form_run: dict[str, Any], page: Any, ui: UiStack, shots: Path
) -> None:
    run_id = form_run["dag_run_id"]
    page.goto(run_url(ui, run_id))
    expect(page.get_by_text("MetaStudio remediation").first).to_be_visible()  # the note's first line
    page.get_by_role("button", name="Edit note").first.click()
    note = page.get_by_role("dialog")
    expect(note.get_by_role("heading", name="Dag Run Note")).to_be_visible()
    expect(note.get_by_role("strong").filter(has_text="MetaStudio remediation")).to_be_visible()  # Markdown
    expect(note.get_by_role("columnheader")).to_have_text(["Job", "Outcome", "Reason", "Log"])
    flexus = note.get_by_role("row").filter(has_text=FLEXUS)
    expect(flexus).to_contain_text("failed")
    expect(flexus).to_contain_text("MSS.00000003")
    for job_id in FIXABLE:
        expect(note.get_by_role("row").filter(has_text=job_id)).to_contain_text("resubmitted")
    page.screenshot(path=str(shots / "run-note.png"))
    href = flexus.get_by_role("link", name="log").get_attribute("href")  # the note's links open a new tab
    page.goto(urljoin(ui.api, href))
    expect(page.get_by_text(re.compile(r"MSS\.00000003.*request id")).first).to_be_visible()
