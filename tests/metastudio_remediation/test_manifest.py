"""Corrections manifest: every kind of bad input gets an error naming file, job and field."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from metastudio_remediation.manifest import ManifestError, load_manifest

JOB = "0a11ce0000000000000000000000a001"
MP4 = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"\x00" * 200


@pytest.fixture
def root(tmp_path: Path) -> Path:
    assets = tmp_path / "assets"
    (assets / "v").mkdir(parents=True)
    (assets / "v" / "video.mp4").write_bytes(MP4)
    (assets / "id.jpg").write_bytes(JPEG)
    (assets / "letter.pdf").write_bytes(PDF)
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
    assert correction.assets["training_video"].size == len(MP4)
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
    (root / "outside.jpg").write_bytes(JPEG)
    (root / "assets" / "empty.jpg").write_bytes(b"")
    other = "0a11ce0000000000000000000000a002"
    path = write(root, f"assets_root: assets\njobs:\n  {JOB}: {entry}\n  {other}: {{assets: {{cover: id.jpg}}}}\n")
    manifest = load_manifest(path)
    assert list(manifest.corrections) == [other]
    assert message in manifest.errors[JOB]
    assert manifest.errors[JOB].startswith(f"{path}: job {JOB}")


def test_symlink_out_of_the_root_is_refused(root: Path) -> None:
    secret = root / "secret.jpg"
    secret.write_bytes(JPEG)
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
    assert manifest.corrections[JOB].assets["cover"].size == len(JPEG)
