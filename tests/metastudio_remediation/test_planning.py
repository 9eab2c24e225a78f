"""Planning: who gets fixed, how videos are split, and the limits that keep a run bounded."""

from __future__ import annotations

import itertools
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from metastudio_remediation.manifest import AssetSource, JobCorrection, Manifest, load_manifest
from metastudio_remediation.planning import MIN_PART_SIZE, part_count_for, part_ranges, plan_run, upload_tasks
from metastudio_remediation.report import build_report
from metastudio_sandbox.samples import make_cached, make_video, pad_mdat

MiB = 1024**2


@pytest.mark.parametrize(
    ("size", "part_size", "count"),
    [
        (1, 256 * MiB, 1),
        (256 * MiB, 256 * MiB, 1),
        (256 * MiB + 1, 256 * MiB, 2),
        (10 * 1024**3, 256 * MiB, 40),
        (300 * 1024, 100 * 1024, 3),
        (250 * 1024, 10 * 1024, 2),
        (10**12, 1, 1000),
    ],
)
def test_part_count_respects_api_and_obs_limits(size: int, part_size: int, count: int) -> None:
    assert part_count_for(size, part_size) == count


@pytest.mark.parametrize(("size", "count"), [(10, 1), (10, 3), (6 * MiB, 3), (6 * MiB + 5, 4), (1000, 7)])
def test_part_ranges_cover_the_file_exactly_once(size: int, count: int) -> None:
    ranges = part_ranges(size, count)
    assert len(ranges) <= count
    assert ranges[0][0] == 0 and sum(length for _, length in ranges) == size
    assert all(a + la == b for (a, la), (b, _) in itertools.pairwise(ranges))
    assert all(length == ranges[0][1] for _, length in ranges[:-1])


def _manifest(*job_ids: str, video_size: int = 6 * MiB, update: dict | None = None) -> Manifest:
    manifest = Manifest(path="m.yaml", assets_root="/assets")
    for job_id in job_ids:
        manifest.corrections[job_id] = JobCorrection(
            job_id=job_id,
            update=dict(update or {}),
            assets={
                "training_video": AssetSource("training_video", f"/assets/{job_id}.mp4", video_size),
                "id_card_front": AssetSource("id_card_front", f"/assets/{job_id}.jpg", 1000),
            },
        )
    return manifest


def _job(job_id: str, state: str = "AUTO_VERIFY_FAILED", rejections: int = 1) -> dict:
    return {"job_id": job_id, "state": state, "review_failure": {"reason": "r"}, "rejections": rejections}


def test_each_job_gets_a_decision_with_a_reason() -> None:
    manifest = _manifest("fix", "looped", "training")
    manifest.errors["broken"] = "m.yaml: job broken: assets.cover: 'x.jpg' does not exist"
    plan = plan_run(
        [_job("fix"), _job("nocorr"), _job("looped", rejections=4), _job("training", "TRAINING"), _job("broken")],
        manifest,
        part_size=2 * MiB,
    )
    assert [job["job_id"] for job in plan["to_fix"]] == ["fix"]
    reasons = {job["job_id"]: job["reason"] for job in plan["skipped"]}
    assert reasons["nocorr"] == "no correction in the manifest"
    assert plan["needs_person"][0]["job_id"] == "looped"
    assert plan["needs_person"][0]["reason"].startswith("rejected 4 times (limit 3)")
    assert reasons["training"].startswith("state TRAINING")
    assert plan["failed"][0]["job_id"] == "broken" and "does not exist" in plan["failed"][0]["error"]["error_msg"]
    fix = plan["to_fix"][0]
    assert fix["body"] == {"video_multipart_count": 3}
    assert [(u["asset"], u["part_number"], u["offset"], u["length"]) for u in fix["uploads"]] == [
        ("training_video", 1, 0, 2 * MiB),
        ("training_video", 2, 2 * MiB, 2 * MiB),
        ("training_video", 3, 4 * MiB, 2 * MiB),
        ("id_card_front", None, 0, 1000),
    ]


def test_an_explicit_part_count_is_kept_but_checked() -> None:
    plan = plan_run([_job("a")], _manifest("a", update={"video_multipart_count": 2}))
    assert plan["to_fix"][0]["body"]["video_multipart_count"] == 2
    tiny = plan_run([_job("a")], _manifest("a", video_size=MIN_PART_SIZE, update={"video_multipart_count": 5}))
    assert "smaller than" in tiny["failed"][0]["error"]["error_msg"]


def test_max_jobs_and_max_map_length_defer_the_rest() -> None:
    ids = [f"job{i}" for i in range(5)]
    plan = plan_run([_job(i) for i in ids], _manifest(*ids), max_jobs=3)
    assert len(plan["to_fix"]) == 3 and [j["job_id"] for j in plan["deferred"]] == ["job3", "job4"]
    # One remediate_job per job: max_map_length bounds the jobs, whatever their number of uploads.
    plan = plan_run([_job(i) for i in ids], _manifest(*ids), part_size=2 * MiB, max_map_length=4)
    assert [j["job_id"] for j in plan["to_fix"]] == ids[:4] and sum(j["upload_count"] for j in plan["to_fix"]) > 4
    assert [(j["job_id"], j["reason"]) for j in plan["deferred"]] == [("job4", "max_map_length=4 reached; next run")]


def test_upload_tasks_pair_parts_with_urls() -> None:
    plan = plan_run([_job("a")], _manifest("a"), part_size=3 * MiB)
    targets = [
        {"asset": "training_video", "part_number": 1, "sealed_url": "s1"},
        {"asset": "training_video", "part_number": 2, "sealed_url": "s2"},
        {"asset": "id_card_front", "part_number": None, "sealed_url": "s3"},
        {"asset": "cover", "part_number": None, "sealed_url": "unused"},
    ]
    tasks = upload_tasks(plan["to_fix"][0], {"upload_targets": targets})
    assert [(t["asset_label"], t["sealed_url"], t["offset"]) for t in tasks] == [
        ("training_video part 1/2", "s1", 0),
        ("training_video part 2/2", "s2", 3 * MiB),
        ("id_card_front", "s3", 0),
    ]
    with pytest.raises(LookupError, match="no upload URL for id_card_front"):
        upload_tasks(plan["to_fix"][0], {"upload_targets": targets[:2]})


# ----------------------------------------------------------------------------------------------
# Pre-flight: a job whose files would fail review is not updated and needs a person
# ----------------------------------------------------------------------------------------------

SAMPLES_CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "samples"


def _finding(asset: str, message: str, rule: str = "video.duration", measured: str = "120.0 s") -> dict:
    return {"asset": asset, "file": "x", "rule": rule, "message": message, "measured": measured, "review_code": None}


def test_a_job_with_findings_needs_a_person_and_nothing_is_planned_for_it() -> None:
    manifest = _manifest("short", "fine", "looped")
    for job_id in ("short", "looped"):
        manifest.corrections[job_id] = replace(
            manifest.corrections[job_id],
            findings=(
                _finding("training_video", "v.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes"),
                _finding("id_card_front", "f.jpg: named .jpg but the content is PNG", "extension.mismatch", "PNG"),
            ),
        )
    plan = plan_run([_job("short"), _job("fine"), _job("looped", rejections=9)], manifest, max_jobs=1)
    assert [job["job_id"] for job in plan["to_fix"]] == ["fine"]  # max_jobs=1 is not used up by the others
    assert plan["deferred"] == [] and plan["failed"] == []
    by_id = {job["job_id"]: job for job in plan["needs_person"]}
    assert set(by_id) == {"short", "looped"}  # the findings are the news, even for a looping job
    short = by_id["short"]
    assert short["findings"] == list(manifest.corrections["short"].findings)
    assert short["reason"] == (
        "stopped before upload, would fail review: (1) v.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 "
        "minutes (2) f.jpg: named .jpg but the content is PNG"
    )
    assert "body" not in short and "uploads" not in short


def test_a_refused_job_is_an_alert_entry_with_its_findings_but_does_not_fail_the_run() -> None:
    manifest = _manifest("short")
    finding = _finding("training_video", "v.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes")
    manifest.corrections["short"] = replace(manifest.corrections["short"], findings=(finding,))
    report = build_report(plan=plan_run([_job("short")], manifest), dry_run=False)
    (row,) = report["jobs"]
    assert (row["job_id"], row["status"]) == ("short", "needs_person") and "2 min 0 s long" in row["detail"]
    (error,) = report["errors"]
    assert (error["job_id"], error["error_type"], error["operation"]) == ("short", "PreflightRefused", "preflight")
    assert error["findings"] == [finding] and "2 min 0 s long" in error["error_msg"]
    assert report["failed"] is False


def test_videos_are_inspected_whole_before_they_are_split(tmp_path: Path) -> None:
    """A 2-minute video the manifest splits into 3 parts is refused as a whole; a 3-minute one is split."""
    for name, seconds in (("short.mp4", 120), ("ok.mp4", 180)):
        video = make_cached(tmp_path / f"raw-{name}", make_video, SAMPLES_CACHE, seconds=seconds, fps=Fraction(1, 10))
        pad_mdat(video, 3 * MIN_PART_SIZE + 3, dest=tmp_path / name)  # room for 3 parts of at least 100 KB
    (tmp_path / "corrections.yaml").write_text(
        "jobs:\n"
        "  short: {update: {video_multipart_count: 3}, assets: {training_video: short.mp4}}\n"
        "  ok: {update: {video_multipart_count: 3}, assets: {training_video: ok.mp4}}\n"
    )
    plan = plan_run([_job("short"), _job("ok")], load_manifest(tmp_path / "corrections.yaml"))
    (refused,) = plan["needs_person"]
    assert refused["job_id"] == "short" and [f["rule"] for f in refused["findings"]] == ["video.duration"]
    assert refused["findings"][0]["message"] == "short.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes"
    (fixed,) = plan["to_fix"]
    assert fixed["job_id"] == "ok" and [u["part_number"] for u in fixed["uploads"]] == [1, 2, 3]
