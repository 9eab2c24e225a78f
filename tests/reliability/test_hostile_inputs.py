"""Hostile inputs end in a named outcome: swapped files, flooded and lying media, untrusted text.

Real files throughout (PyAV/Pillow samples, a real ZIP), real symlink swaps on disk, the real
sandbox over HTTP for uploads, and the real renderings (Slack payload text, the run's Markdown note).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from metastudio_provider.checkpoint import MemoryCheckpoint
from metastudio_provider.file_identity import FileIdentity, FileIdentityError, PinnedFile
from metastudio_provider.hooks.metastudio import MetaStudioHook
from metastudio_remediation.manifest import load_manifest
from metastudio_remediation.planning import plan_run
from metastudio_remediation.remediate import remediate_job
from metastudio_sandbox import samples
from metastudio_sandbox.server import SandboxServer, run_in_thread

AK, SK, PROJECT_ID = "HOSTILEACCESSKEY0001", "hostile-secret-key-0123456789abcd", "0a11ce0000000000000000000000beef"
SAMPLES_CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "samples"
SWAPPED, KEPT = "0a11ce00000000000000000000000c01", "0a11ce00000000000000000000000c02"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    scenario = tmp_path / "scenario.json"
    jobs = [
        {"name": job_id[-3:], "job_id": job_id, "state": "AUTO_VERIFY_FAILED", "create_time": "-3d", "history": []}
        for job_id in (SWAPPED, KEPT)
    ]
    scenario.write_text(json.dumps({"jobs": jobs}))
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=scenario, review_delay=3600) as server:
        yield server


@pytest.fixture
def hook(sandbox: SandboxServer, metastudio_conn) -> MetaStudioHook:
    return MetaStudioHook(
        metastudio_conn(sandbox.url, login=AK, password=SK, project_id=PROJECT_ID, retry_delay=0.05, read_timeout=10)
    )


def received(sandbox: SandboxServer, job_id: str) -> list[dict[str, Any]]:
    response = requests.get(f"{sandbox.url}/_sandbox/jobs/{job_id}", timeout=10)
    response.raise_for_status()
    return response.json()["files"]


def planned(tmp_path: Path) -> tuple[dict[str, dict[str, Any]], Path]:
    """Two jobs with one ID photo each, planned from a real manifest (the plan records each file's identity)."""
    root = tmp_path / "assets"
    root.mkdir()
    for name in ("swapped", "kept"):
        samples.make_cached(root / f"{name}.jpg", samples.make_jpeg, SAMPLES_CACHE)
    manifest = tmp_path / "corrections.yaml"
    manifest.write_text(
        f"assets_root: assets\njobs:\n  {SWAPPED}: {{assets: {{id_card_front: swapped.jpg}}}}\n"
        f"  {KEPT}: {{assets: {{id_card_front: kept.jpg}}}}\n"
    )
    candidates = [{"job_id": job_id, "state": "AUTO_VERIFY_FAILED"} for job_id in (SWAPPED, KEPT)]
    plan = plan_run(candidates, load_manifest(manifest))
    return {job["job_id"]: job for job in plan["to_fix"]}, root


def swap_for_link(path: Path, target: str) -> None:
    """What an attacker with write access to the assets folder does between the plan and the upload."""
    path.unlink()
    path.symlink_to(target)


@pytest.mark.parametrize(
    "swap",
    [
        pytest.param(lambda root: swap_for_link(root / "swapped.jpg", "/etc/passwd"), id="file-to-link-out"),
        pytest.param(lambda root: swap_for_link(root / "swapped.jpg", str(root / "kept.jpg")), id="file-to-link-in"),
        pytest.param(
            lambda root: (root / "swapped.jpg").write_bytes((root / "kept.jpg").read_bytes()), id="rewritten-in-place"
        ),
        pytest.param(lambda root: open(root / "swapped.jpg", "ab").write(b"\0" * 10), id="appended"),  # noqa: SIM115
        pytest.param(
            lambda root: (os.replace(root / "kept.jpg", root / "swapped.jpg"), (root / "kept.jpg").write_bytes(b"")),
            id="renamed-over",
        ),
    ],
)
def test_a_file_changed_after_the_plan_is_that_jobs_error_and_nothing_is_sent(
    sandbox: SandboxServer, hook: MetaStudioHook, tmp_path: Path, swap: Any
) -> None:
    jobs, root = planned(tmp_path)
    kept_sha = hashlib.sha256((root / "kept.jpg").read_bytes()).hexdigest()
    swap(root)
    if (root / "kept.jpg").stat().st_size == 0:  # the renamed-over case moved the kept file away: restore it
        jobs.pop(KEPT)
    outcomes = {job_id: remediate_job(hook, job, MemoryCheckpoint()) for job_id, job in jobs.items()}

    swapped = outcomes[SWAPPED]
    assert swapped["ok"] is False and swapped["updates"] == 0  # refused before the Update: nothing sent at all
    assert swapped["error"]["error_type"] == "FileIdentityError"
    assert "swapped.jpg" in swapped["error"]["error_msg"]
    assert received(sandbox, SWAPPED) == []
    if KEPT in outcomes:  # the rest of the run goes on
        assert outcomes[KEPT]["ok"] is True
        assert [row["sha256"] for row in outcomes[KEPT]["uploads"]] == [kept_sha]
        assert [f["size"] for f in received(sandbox, KEPT)] == [(root / "kept.jpg").stat().st_size]


def test_a_file_changed_after_the_update_is_refused_before_its_first_byte(
    sandbox: SandboxServer, hook: MetaStudioHook, tmp_path: Path
) -> None:
    """The check passed before the Update; the file grows before its upload opens it: refused, named."""
    jobs, root = planned(tmp_path)
    real_upload = hook.upload_file

    def grow_then_upload(url: str, source: Any, **kwargs: Any) -> Any:
        with open(root / "swapped.jpg", "ab") as handle:  # after the pre-Update check, before the first byte
            handle.write(b"\0")
        return real_upload(url, source, **kwargs)

    hook.upload_file = grow_then_upload  # type: ignore[method-assign]
    outcome = remediate_job(hook, jobs[SWAPPED], MemoryCheckpoint())
    (row,) = outcome["uploads"]
    assert outcome["ok"] is False and row["ok"] is False
    assert row["error"]["error_type"] == "FileIdentityError" and "size changed" in row["error"]["error_msg"]
    assert all(f["asset"] != "id_card_front" for f in received(sandbox, SWAPPED))


def test_a_pinned_file_changed_while_it_is_read_fails_before_the_next_block_is_handed_out(tmp_path: Path) -> None:
    path = tmp_path / "video.mp4"
    path.write_bytes(os.urandom(4096))
    pinned = PinnedFile(FileIdentity.of(path.resolve()))
    with pinned.open("rb") as stream:
        assert len(stream.read(1024)) == 1024
        with open(path, "ab") as handle:
            handle.write(b"more")
        with pytest.raises(FileIdentityError, match="changed while it was read: its size changed from 4096 to 4100"):
            stream.read(1024)


def test_a_folder_on_the_way_swapped_for_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "intake" / "ann").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    photo = tmp_path / "intake" / "ann" / "front.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + os.urandom(100))
    pinned = PinnedFile(FileIdentity.of(photo.resolve()))
    (tmp_path / "elsewhere" / "front.jpg").write_bytes(photo.read_bytes())
    os.rename(tmp_path / "intake" / "ann", tmp_path / "intake" / "ann.old")
    (tmp_path / "intake" / "ann").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileIdentityError, match="without following links: a symbolic link"):
        pinned.open("rb")


def test_a_fifo_in_place_of_the_file_is_refused_without_hanging(tmp_path: Path) -> None:
    photo = tmp_path / "front.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    pinned = PinnedFile(FileIdentity.of(photo.resolve()))
    photo.unlink()
    os.mkfifo(photo)
    with pytest.raises(FileIdentityError, match="not a regular file any more"):
        pinned.open("rb")


# --- untrusted text where people read it -----------------------------------------------------

HOSTILE_MESSAGE = "<!channel> quota <https://evil.example/login|click here> & \x1b[2J\x1b[31mred\x1b[0m\nline two"
FORGED_ID = "job-x | resubmitted | review passed |\n| `0a11ce00000000000000000000000c09`"


def test_the_slack_text_carries_no_mention_link_or_extra_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from metastudio_provider.notifications.webhook import MetaStudioAlertNotifier
    from tests.support.local_server import LocalServer, Reply

    errors = [
        {
            "job_id": FORGED_ID,
            "operation": "update_training_job",
            "error_code": "<!here>",
            "error_msg": HOSTILE_MESSAGE,
        },
        {"job_id": KEPT, "operation": "upload", "error_code": "MSS.1", "error_msg": "refused"},
    ]
    with LocalServer(lambda request: Reply(200, body=b"ok")) as server:
        monkeypatch.setenv("AIRFLOW_CONN_METASTUDIO_ALERTS", json.dumps({"conn_type": "http", "host": server.base_url}))
        MetaStudioAlertNotifier(title="run <!channel> alert", errors=errors).notify({"run_id": "manual__1"})
    text = server.requests[0].json["text"]
    lines = text.split("\n")
    assert len(lines) == 3  # the title and one line per error: no forged line
    assert "<" not in text and ">" not in text and "\x1b" not in text  # no mention, link or escape can be parsed
    assert lines[0] == "run &lt;!channel&gt; alert"
    assert (
        "&lt;!here&gt;: &lt;!channel&gt; quota &lt;https://evil.example/login|click here&gt; &amp; red line two"
        in lines[1]
    )
    assert server.requests[0].json["errors"][0]["error_msg"] == HOSTILE_MESSAGE  # the data itself stays as received


def test_the_run_note_has_one_row_per_job_and_no_markup_from_the_answer() -> None:
    from metastudio_remediation.report import build_report
    from metastudio_remediation.report_markdown import render_markdown, render_note

    plan = {
        "skipped": [{"job_id": FORGED_ID, "state": "RUNNING", "reason": "state <b>RUNNING</b> [x](https://evil)"}],
        "needs_person": [{"job_id": KEPT, "state": "AUTO_VERIFY_FAILED", "reason": HOSTILE_MESSAGE}],
    }
    report = build_report(plan=plan, dry_run=False)
    for rendered in (render_note(report, dag_id="d", run_id="r"), render_markdown(report, dag_id="d", run_id="r")):
        table = [line for line in rendered.splitlines() if line.startswith("|")]
        assert len(table) == 2 + 2  # header, separator, one row per job: the forged id added none
        assert all(line.count("|") - line.count("\\|") == 4 for line in table)  # no extra column either
        assert "<b>" not in rendered and "](" not in rendered and "https://" not in rendered
        assert "`0a11ce00000000000000000000000c09`" not in rendered  # not rendered as a job id of ours
        assert f"`{KEPT}`" in rendered  # a valid id is still shown as code


def test_a_job_id_from_the_list_answer_is_checked_like_a_persons(make_hook) -> None:
    from metastudio_provider.exceptions import MetaStudioInvalidResponseError
    from tests.support.local_server import LocalServer, Reply

    jobs = [{"job_id": KEPT, "state": "AUTO_VERIFY_FAILED"}, {"job_id": f"{KEPT}\n", "state": "AUTO_VERIFY_FAILED"}]
    with LocalServer(lambda request: Reply(200, {"count": 2, "jobs": jobs})) as server:
        with pytest.raises(MetaStudioInvalidResponseError) as caught:
            make_hook(server.base_url).list_training_jobs()
    message = str(caught.value)
    assert "entry 1 of the answer: training job with an invalid 'job_id'" in message
    assert "\n" not in message  # shown escaped, never as it is
