"""Corrections manifest: every kind of bad input gets an error naming file, job and field."""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from metastudio_remediation.manifest import ManifestError, load_manifest
from metastudio_sandbox.samples import (
    make_audio_zip,
    make_cached,
    make_jpeg,
    make_pdf,
    make_png,
    make_video,
    pad_mdat,
    truncate,
)

JOB = "0a11ce0000000000000000000000a001"


@pytest.fixture
def root(tmp_path: Path, media: Path) -> Path:
    """An assets root with a user's good files, copied from the real samples of the ``media`` folder below."""
    assets = tmp_path / "assets"
    (assets / "v").mkdir(parents=True)
    shutil.copyfile(media / "ok.mp4", assets / "v" / "video.mp4")  # H.264, 1920x1080, 3 min
    shutil.copyfile(media / "photo.jpg", assets / "id.jpg")
    shutil.copyfile(media / "letter.pdf", assets / "letter.pdf")
    return tmp_path


def write(root: Path, text: str, name: str = "corrections.yaml") -> Path:
    path = root / name
    path.write_text(text)
    return path


def test_valid_manifest_resolves_assets(root: Path) -> None:
    manifest = load_manifest(
        write(
            root,
            f"""
assets_root: assets
jobs:
  {JOB}:
    update: {{name: Ann, video_multipart_count: 2}}
    assets: {{training_video: v/video.mp4, id_card_front: id.jpg, authorization_letter: letter.pdf}}
""",
        )
    )
    correction = manifest.corrections[JOB]
    assert correction.update == {"name": "Ann", "video_multipart_count": 2}
    assert correction.assets["training_video"].location == str((root / "assets/v/video.mp4").resolve())
    assert correction.assets["training_video"].size == (root / "assets/v/video.mp4").stat().st_size
    assert correction.assets["id_card_front"].content_type == "application/octet-stream"
    assert manifest.errors == {}


def test_json_manifest(root: Path) -> None:
    document = {"assets_root": "assets", "jobs": {JOB: {"assets": {"id_card_back": "id.jpg"}}}}
    manifest = load_manifest(write(root, json.dumps(document), "c.json"))
    assert list(manifest.corrections) == [JOB]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs: [unclosed", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("assets_root: assets\n", "'jobs' is a required property"),
        ("jobs: {}\nextra_key: 1\n", "Additional properties are not allowed"),
        ("jobs:\n  'bad id!': {assets: {cover: id.jpg}}\n", "does not match"),
        (f"assets_root: missing\njobs:\n  {JOB}: {{assets: {{cover: id.jpg}}}}\n", "is not a folder"),
        (f"jobs:\n  {JOB}: {{assets: {{cover: a}}}}\n  {JOB}: {{assets: {{cover: b}}}}\n", "duplicate key"),
    ],
)
def test_whole_file_problems_name_the_file(root: Path, text: str, message: str) -> None:
    path = write(root, text)
    with pytest.raises(ManifestError, match=message) as excinfo:
        load_manifest(path)
    assert str(path) in str(excinfo.value)


def test_duplicate_job_ids_in_json(root: Path) -> None:
    entry = '{"assets": {"cover": "a"}}'
    text = f'{{"jobs": {{"{JOB}": {entry}, "{JOB}": {entry}}}}}'
    with pytest.raises(ManifestError, match="duplicate key"):
        load_manifest(write(root, text, "c.json"))


def test_unreadable_manifest(root: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(root / "nope.yaml")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{update: {nmae: x}, assets: {cover: id.jpg}}", "update.nmae: unknown field"),
        ("{update: {video_multipart_count: 5000}}", "update.video_multipart_count: invalid field"),
        ("{update: {name: 7}}", "update.name: invalid field name: 7 is not of type string"),
        ("{assets: {passport: id.jpg}}", "assets: Additional properties"),
        ("{assets: {cover: missing.jpg}}", "assets.cover: 'missing.jpg' does not exist"),
        ("{assets: {cover: ../outside.jpg}}", "is outside assets_root"),
        ("{assets: {cover: /etc/passwd}}", "must be relative to assets_root"),
        ("{assets: {training_video: id.jpg}}", "looks like jpeg; training_video must be mp4"),
        ("{assets: {id_card_front: letter.pdf}}", "id_card_front must be jpeg/png"),
        ("{assets: {authorization_letter: v/video.mp4}}", "authorization_letter must be pdf/jpeg/png"),
        ("{assets: {cover: empty.jpg}}", "is empty"),
        ("{note: nothing}", "nothing to correct"),
    ],
)
def test_per_job_problems_affect_only_that_job(root: Path, entry: str, message: str) -> None:
    shutil.copyfile(root / "assets" / "id.jpg", root / "outside.jpg")  # a good photo, in the wrong place
    (root / "assets" / "empty.jpg").write_bytes(b"")  # deliberately not a real file: empty
    other = "0a11ce0000000000000000000000a002"
    path = write(root, f"assets_root: assets\njobs:\n  {JOB}: {entry}\n  {other}: {{assets: {{cover: id.jpg}}}}\n")
    manifest = load_manifest(path)
    assert list(manifest.corrections) == [other]
    assert message in manifest.errors[JOB]
    assert manifest.errors[JOB].startswith(f"{path}: job {JOB}")


def test_symlink_out_of_the_root_is_refused(root: Path) -> None:
    secret = shutil.copyfile(root / "assets" / "id.jpg", root / "secret.jpg")
    os.symlink(secret, root / "assets" / "link.jpg")
    manifest = load_manifest(write(root, f"assets_root: assets\njobs:\n  {JOB}: {{assets: {{cover: link.jpg}}}}\n"))
    assert "is outside assets_root" in manifest.errors[JOB]


def test_oversized_file_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metastudio_remediation import manifest as module

    monkeypatch.setitem(module.ASSET_KINDS, "cover", module.AssetKind("application/octet-stream", ("jpeg",), 100))
    manifest = load_manifest(write(root, f"assets_root: assets\njobs:\n  {JOB}: {{assets: {{cover: id.jpg}}}}\n"))
    assert "the limit for cover is 100" in manifest.errors[JOB]


def test_object_storage_uri_is_read_through_object_storage_path(root: Path) -> None:
    uri = (root / "assets" / "id.jpg").resolve().as_uri()  # file:///...
    manifest = load_manifest(write(root, f"jobs:\n  {JOB}: {{assets: {{cover: '{uri}'}}}}\n"))
    assert manifest.corrections[JOB].assets["cover"].location == uri
    assert manifest.corrections[JOB].assets["cover"].size == (root / "assets" / "id.jpg").stat().st_size


# ----------------------------------------------------------------------------------------------
# Pre-flight inspection, on real media (metastudio_sandbox.samples: H.264, JPEG, PNG, PDF, zip)
# ----------------------------------------------------------------------------------------------

SAMPLES_CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "samples"
FAST = Fraction(1, 10)  # one frame every 10 s: a 3-minute video encodes in a fraction of a second
ACCEPTED = "MetaStudio accepts 1920x1080, 1080x1920, 3840x2160 or 2160x3840"


def _truncated_video(path: Path) -> Path:
    make_video(path, width=1920, height=1080, seconds=180, fps=FAST)
    return truncate(path, 0.5)


MEDIA: dict[str, tuple[Any, dict[str, Any]]] = {
    "ok.mp4": (make_video, {"width": 1920, "height": 1080, "seconds": 180, "fps": FAST}),
    "hd720.mp4": (make_video, {"width": 1280, "height": 720, "seconds": 180, "fps": FAST}),
    "two_minutes.mp4": (make_video, {"width": 1920, "height": 1080, "seconds": 120, "fps": FAST}),
    "eleven_minutes.mp4": (make_video, {"width": 1920, "height": 1080, "seconds": 660, "fps": FAST}),
    "hd720_two_minutes.mp4": (make_video, {"width": 1280, "height": 720, "seconds": 120, "fps": FAST}),
    "portrait.mp4": (make_video, {"width": 1080, "height": 1920, "seconds": 180, "fps": FAST}),
    "phone_portrait.mp4": (make_video, {"width": 1920, "height": 1080, "seconds": 180, "rotation": 90, "fps": FAST}),
    "phone_720_rotated.mp4": (make_video, {"width": 1280, "height": 720, "seconds": 180, "rotation": 270, "fps": FAST}),
    "truncated.mp4": (_truncated_video, {}),
    "photo.jpg": (make_jpeg, {}),
    "photo.png": (make_png, {}),
    "png_named.jpg": (make_png, {}),  # a PNG renamed .jpg
    "letter.pdf": (make_pdf, {}),
    "voice.zip": (make_audio_zip, {"recordings": 2, "seconds": 0.2}),
    "voice_without_scripts.zip": (make_audio_zip, {"recordings": 2, "seconds": 0.2, "with_txt": False}),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of real sample files (made once, then copied from ``var/cache/samples``)."""
    folder = tmp_path_factory.mktemp("media")
    for name, (maker, params) in MEDIA.items():
        make_cached(folder / name, maker, SAMPLES_CACHE, **params)
    return folder


def load_one(media: Path, entry: str) -> Any:
    """Load a manifest whose only job has ``entry`` (YAML flow mapping), assets from the media folder."""
    path = media / "corrections.yaml"
    path.write_text(f"assets_root: .\njobs:\n  {JOB}: {entry}\n")
    return load_manifest(path)


@pytest.mark.parametrize(
    ("kind", "name", "rule", "measured", "message"),
    [
        ("training_video", "hd720.mp4", "video.resolution", "1280x720", f"hd720.mp4: 1280x720; {ACCEPTED}"),
        (
            "training_video",
            "two_minutes.mp4",
            "video.duration",
            "120.0 s",
            "two_minutes.mp4: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes",
        ),
        ("training_video", "eleven_minutes.mp4", "video.duration", "660.0 s", "11 min 0 s long"),
        ("training_video", "phone_720_rotated.mp4", "video.resolution", "720x1280", "720x1280; MetaStudio accepts"),
        ("training_video", "truncated.mp4", "video.truncated", None, "the file is incomplete or corrupt"),
        ("id_card_front", "png_named.jpg", "extension.mismatch", "PNG", "named .jpg but the content is PNG"),
        ("audio", "voice_without_scripts.zip", "audio.members", "2 wav, 0 txt", "2 wav and 0 txt files"),
    ],
)
def test_a_file_that_would_fail_review_is_a_finding_of_the_job(
    media: Path, kind: str, name: str, rule: str, measured: str | None, message: str
) -> None:
    manifest = load_one(media, f"{{assets: {{{kind}: {name}}}}}")
    assert manifest.errors == {}  # the manifest is right; the file needs a person
    (finding,) = manifest.corrections[JOB].findings
    assert (finding["asset"], finding["file"], finding["rule"], finding["measured"]) == (kind, name, rule, measured)
    assert finding["message"].startswith(f"{name}: ") and message in finding["message"]
    if rule == "video.resolution":
        assert finding["review_code"] == "44005901"


def test_files_that_meet_the_rules_have_no_finding(media: Path) -> None:
    manifest = load_one(
        media,
        "{assets: {training_video: ok.mp4, action_video: portrait.mp4, cover: photo.png, id_card_front: photo.jpg,"
        " id_card_back: photo.png, authorization_letter: letter.pdf, audio: voice.zip}}",
    )
    assert manifest.errors == {} and manifest.corrections[JOB].findings == ()
    for name in ("portrait.mp4", "phone_portrait.mp4"):  # 1080x1920, stored or by the rotation matrix
        assert load_one(media, f"{{assets: {{training_video: {name}}}}}").corrections[JOB].findings == ()


def test_every_finding_of_every_file_is_kept(media: Path) -> None:
    manifest = load_one(media, "{assets: {training_video: hd720_two_minutes.mp4, id_card_front: png_named.jpg}}")
    findings = manifest.corrections[JOB].findings
    assert [(f["asset"], f["rule"]) for f in findings] == [
        ("training_video", "video.resolution"),
        ("training_video", "video.duration"),
        ("id_card_front", "extension.mismatch"),
    ]


def test_preflight_false_turns_the_inspection_off_but_not_the_format_check(media: Path) -> None:
    manifest = load_one(media, "{preflight: false, assets: {training_video: hd720_two_minutes.mp4}}")
    assert manifest.errors == {} and manifest.corrections[JOB].findings == ()
    wrong = load_one(media, "{preflight: false, assets: {training_video: photo.jpg}}")
    assert "looks like jpeg; training_video must be mp4" in wrong.errors[JOB]


def test_preflight_skip_ignores_only_the_rules_listed(media: Path) -> None:
    manifest = load_one(media, "{preflight: {skip: [video.duration]}, assets: {training_video: hd720_two_minutes.mp4}}")
    assert [f["rule"] for f in manifest.corrections[JOB].findings] == ["video.resolution"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{skip: [video.duraton]}", "preflight.skip.0: 'video.duraton' is not one of"),
        ("{skip: []}", "preflight.skip: [] should be non-empty"),
        ("{}", "preflight: 'skip' is a required property"),
        ("{skip: [video.duration], only: [x]}", "preflight: Additional properties are not allowed ('only'"),
        ("'off'", "preflight: 'off' is not of type 'boolean', 'object'"),
    ],
)
def test_a_bad_preflight_setting_fails_that_job_only(media: Path, value: str, message: str) -> None:
    path = media / "corrections.yaml"
    other = "0a11ce0000000000000000000000a002"
    path.write_text(
        f"jobs:\n  {JOB}: {{preflight: {value}, assets: {{cover: photo.jpg}}}}\n"
        f"  {other}: {{assets: {{cover: photo.jpg}}}}\n"
    )
    manifest = load_manifest(path)
    assert list(manifest.corrections) == [other]
    assert message in manifest.errors[JOB], manifest.errors[JOB]


def test_a_wrong_format_is_a_manifest_error_with_one_message(media: Path) -> None:
    """The wrong file entirely is the manifest's fault: the job fails, there is no duplicate finding."""
    manifest = load_one(media, "{assets: {id_card_front: letter.pdf}}")
    assert JOB not in manifest.corrections
    assert manifest.errors[JOB].endswith(
        "assets.id_card_front: 'letter.pdf' looks like pdf; id_card_front must be jpeg/png"
    )


def test_a_quicktime_movie_is_not_an_mp4(media: Path) -> None:
    data = bytearray((media / "ok.mp4").read_bytes())
    data[8:12] = b"qt  "  # the major brand of a QuickTime .mov
    (media / "movie.mp4").write_bytes(bytes(data))
    manifest = load_one(media, "{assets: {training_video: movie.mp4}}")
    assert "'movie.mp4' looks like mov; training_video must be mp4" in manifest.errors[JOB]


def test_a_crash_of_the_inspector_fails_that_job_only(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metastudio_remediation import manifest as module

    real = module.inspect_asset

    def flaky(kind: str, source: Any, *, name: str | None = None) -> Any:
        if name == "portrait.mp4":
            raise IndexError("unexpected box layout")
        return real(kind, source, name=name)

    monkeypatch.setattr(module, "inspect_asset", flaky)
    path = media / "corrections.yaml"
    other = "0a11ce0000000000000000000000a002"
    path.write_text(
        f"jobs:\n  {JOB}: {{assets: {{training_video: portrait.mp4}}}}\n"
        f"  {other}: {{assets: {{training_video: two_minutes.mp4}}}}\n"
    )
    manifest = load_manifest(path)
    assert "pre-flight inspection of 'portrait.mp4' failed (IndexError: unexpected box layout)" in manifest.errors[JOB]
    assert "nothing is sent for this job" in manifest.errors[JOB]
    assert "preflight: false" not in manifest.errors[JOB]  # never advice to upload a corrupt file unchecked
    assert [f["rule"] for f in manifest.corrections[other].findings] == ["video.duration"]


def test_an_object_storage_video_is_inspected_by_ranged_reads(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64 MiB video behind ObjectStoragePath: its moov box is found and read, not the whole object."""
    from metastudio_remediation import manifest as module

    big = pad_mdat(media / "two_minutes.mp4", 64 * 1024**2, dest=media / "big_two_minutes.mp4")  # sparse
    seen: list[tuple[type, int]] = []
    real = module.inspect_asset

    def spy(kind: str, source: Any, *, name: str | None = None) -> Any:
        inspection = real(kind, source, name=name)
        seen.append((type(source), inspection.bytes_read))
        return inspection

    monkeypatch.setattr(module, "inspect_asset", spy)
    uri = big.resolve().as_uri()
    manifest = load_one(media, f"{{assets: {{training_video: '{uri}'}}}}")
    (finding,) = manifest.corrections[JOB].findings
    assert finding["file"] == uri and finding["rule"] == "video.duration"
    assert finding["message"] == f"{uri}: 2 min 0 s long; MetaStudio accepts 3 to 10 minutes"
    ((source_type, bytes_read),) = seen
    assert source_type.__name__ == "ObjectStoragePath"
    # The box headers and the moov box (a few KB for a still-frame video); far below the 64 MiB.
    assert bytes_read < 64 * 1024, bytes_read
    assert manifest.corrections[JOB].assets["training_video"].size == 64 * 1024**2


# ----------------------------------------------------------------------------------------------
# Hostile manifests: every one ends in a ManifestError naming the file and the place, quickly
# ----------------------------------------------------------------------------------------------

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join(['*' + chr(97 + level)] * 9)}]\n" for level in range(9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"jobs:\n  {JOB}:\n    update: {{tags: *x}}\n" + ALIAS_BOMB, "anchors and aliases"),
        (ALIAS_BOMB + "jobs: {}\n", "line 1, column 4: YAML anchors and aliases"),
        (f"jobs:\n  {JOB}: {{update: {{name: !!timestamp x}}}}\n", "YAML tags (tag:yaml.org,2002:timestamp)"),
        (f"jobs:\n  {JOB}: {{update: {{name: !!float ''}}}}\n", "YAML tags (tag:yaml.org,2002:float)"),
        (f"jobs:\n  {JOB}: {{update: !!set {{a, b}}}}\n", "YAML tags (tag:yaml.org,2002:set)"),
        (f"jobs:\n  {JOB}:\n    update:\n      ? [a, b]\n      : 1\n", "line 4, column 9: a mapping key must"),
        ("jobs:\n  x: " + "[" * 500 + "]" * 500 + "\n", "nested deeper than 32 levels"),
        (f'jobs:\n  {JOB}: {{note: "a\\0b", update: {{name: x}}}}\n', f"jobs/{JOB}/note: the text contains a NUL"),
        (f'jobs:\n  {JOB}: {{assets: {{cover: "\\ud800.jpg"}}}}\n', "found invalid Unicode character escape"),
        ("jobs:\n  null: {update: {name: x}}\n", "jobs: key None is not a string"),
        ("jobs:\n  12345: {update: {name: x}}\n", "jobs: key 12345 is not a string; quote it"),
        (f"jobs:\n  {JOB}: {{update: {{1: x}}}}\n", f"jobs/{JOB}/update: key 1 is not a string"),
        (f"jobs:\n  {JOB}: {{update: {{name: .inf}}}}\n", f"jobs/{JOB}/update/name: inf is not a finite number"),
    ],
)
def test_hostile_yaml_ends_in_a_named_error(root: Path, text: str, message: str) -> None:
    path = write(root, text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert len(str(caught.value)) <= 500


def test_a_date_like_value_stays_text(root: Path) -> None:
    manifest = load_manifest(write(root, f"jobs:\n  {JOB}: {{update: {{name: 2001-13-45}}}}\n"))
    assert manifest.corrections[JOB].update == {"name": "2001-13-45"}


def test_deep_json_is_a_named_error(root: Path) -> None:
    path = write(root, '{"jobs": ' + "[" * 100_000 + "]" * 100_000 + "}", "corrections.json")
    with pytest.raises(ManifestError, match="nested deeper than 32 levels"):
        load_manifest(path)


def test_a_lone_surrogate_in_json_is_a_named_error(root: Path) -> None:
    path = write(root, f'{{"jobs": {{"{JOB}": {{"assets": {{"cover": "\\ud800.jpg"}}}}}}}}', "corrections.json")
    with pytest.raises(ManifestError, match=f"jobs/{JOB}/assets/cover: the text contains an unpaired surrogate"):
        load_manifest(path)


def test_an_oversized_manifest_is_refused_before_parsing(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metastudio_remediation import manifest as module

    monkeypatch.setattr(module, "MAX_MANIFEST_BYTES", 1000)
    parsed: list[str] = []
    monkeypatch.setattr(module.yaml, "parse", lambda *args, **kwargs: parsed.append("parsed") or iter(()))
    path = write(root, "jobs:\n" + "".join(f"  job{n:05d}: {{update: {{name: x}}}}\n" for n in range(100)))
    with pytest.raises(ManifestError, match=f"{path}: the manifest is larger than 1000 bytes"):
        load_manifest(path)
    assert parsed == []


def test_the_size_limit_is_documented() -> None:
    from metastudio_remediation.manifest import MAX_MANIFEST_BYTES

    docs = (Path(__file__).resolve().parents[2] / "docs" / "corrections.md").read_text()
    assert f"{MAX_MANIFEST_BYTES // 2**20} MiB" in docs


def test_a_huge_value_in_an_error_is_cut_with_an_ellipsis(root: Path) -> None:
    manifest = load_manifest(write(root, f"jobs:\n  {JOB}: {{note: [{', '.join(['x' * 50] * 2000)}]}}\n"))
    assert manifest.errors[JOB].endswith("…")
    assert len(manifest.errors[JOB]) <= 500


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("a" * 300 + ".jpg", "cannot be read: File name too long"),
        ("../../etc/passwd", "is outside assets_root"),
    ],
)
def test_odd_paths_fail_that_job_only(root: Path, location: str, message: str) -> None:
    manifest = load_manifest(write(root, f'assets_root: assets\njobs:\n  {JOB}: {{assets: {{cover: "{location}"}}}}\n'))
    assert message in manifest.errors[JOB]


def test_a_job_id_with_a_trailing_newline_is_refused(root: Path) -> None:
    path = write(root, f'jobs:\n  "{JOB}\\n": {{update: {{name: x}}}}\n')
    with pytest.raises(ManifestError, match="a job id is 1-64 letters"):
        load_manifest(path)
