"""The corrections manifest: which jobs to fix, with which update fields and replacement assets.

A manifest is YAML or JSON (schema: ``manifest.schema.json``, documented in ``docs/corrections.md``).
Problems with the file as a whole (unreadable, malformed, wrong top-level shape, duplicate job
ids) raise :class:`ManifestError`, naming the file. Problems with one job's entry (a bad update
field, a missing or unreadable file, a path escaping the assets root, a file of the wrong type)
are recorded for that job only, so the other jobs are still fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from metastudio_provider.exceptions import MetaStudioValidationError
from metastudio_provider.validation import UPDATE_BODY_SCHEMA, validate_body

# What each asset kind must look like: content type for the upload, accepted file signatures,
# and a size ceiling that catches a wrong file long before it is streamed to the cloud.
GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class AssetKind:
    content_type: str
    formats: tuple[str, ...]
    max_bytes: int


ASSET_KINDS: dict[str, AssetKind] = {
    "training_video": AssetKind("application/octet-stream", ("mp4",), 20 * GiB),
    "action_video": AssetKind("application/octet-stream", ("mp4",), 20 * GiB),
    "audio": AssetKind("application/zip", ("zip",), 2 * GiB),
    "cover": AssetKind("application/octet-stream", ("jpeg", "png"), 20 * MiB),
    "id_card_front": AssetKind("application/octet-stream", ("jpeg", "png"), 20 * MiB),
    "id_card_back": AssetKind("application/octet-stream", ("jpeg", "png"), 20 * MiB),
    "authorization_letter": AssetKind("application/octet-stream", ("pdf", "jpeg", "png"), 50 * MiB),
}
MULTIPART_KINDS = frozenset({"training_video", "action_video"})


class ManifestError(ValueError):
    """The manifest file cannot be used at all."""


@dataclass(frozen=True)
class AssetSource:
    """One replacement file: where it is (absolute local path or object-storage URI) and its size."""

    kind: str
    location: str
    size: int

    @property
    def content_type(self) -> str:
        return ASSET_KINDS[self.kind].content_type


@dataclass(frozen=True)
class JobCorrection:
    job_id: str
    update: dict[str, Any]
    assets: dict[str, AssetSource]
    note: str | None = None


@dataclass
class Manifest:
    path: str
    assets_root: str
    corrections: dict[str, JobCorrection] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # job id -> why its entry is unusable

    @property
    def job_ids(self) -> set[str]:
        return set(self.corrections) | set(self.errors)


@cache
def manifest_schema() -> dict[str, Any]:
    return json.loads(resources.files("metastudio_remediation").joinpath("manifest.schema.json").read_text())


def load_manifest(path: str | Path) -> Manifest:
    """Read, validate and resolve a manifest file."""
    manifest_path = Path(path)
    document = _parse(manifest_path)
    errors = sorted(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(document), key=str)
    # An error inside one job's entry (jobs/<id>/...) fails that job only; anything else the whole file.
    top_level = [error for error in errors if not _in_job_entry(error)]
    if top_level:
        error = top_level[0]
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise ManifestError(f"{manifest_path}: {where}: {error.message}")

    root = (manifest_path.parent / document.get("assets_root", ".")).resolve()
    if not root.is_dir():
        raise ManifestError(f"{manifest_path}: assets_root {root} is not a folder")
    manifest = Manifest(path=str(manifest_path), assets_root=str(root))
    per_job_errors = {error.absolute_path[1]: error for error in errors if _in_job_entry(error)}
    for job_id, entry in document["jobs"].items():
        if job_id in per_job_errors:
            error = per_job_errors[job_id]
            field_path = ".".join(str(part) for part in list(error.absolute_path)[2:])
            where = f"{field_path}: " if field_path else ""
            manifest.errors[job_id] = f"{manifest_path}: job {job_id}: {where}{error.message}"
            continue
        try:
            manifest.corrections[job_id] = _correction(job_id, entry, root, manifest_path)
        except ManifestError as exc:
            manifest.errors[job_id] = str(exc)
    return manifest


def _in_job_entry(error: jsonschema.ValidationError) -> bool:
    path = list(error.absolute_path)
    return len(path) >= 2 and path[0] == "jobs"


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the corrections manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from None
    try:
        if path.suffix.lower() == ".json":
            document = json.loads(text, object_pairs_hook=_unique_keys(path))
        else:
            document = yaml.load(text, Loader=_unique_key_loader(path))  # noqa: S506 - a SafeLoader subclass
    except ManifestError:
        raise
    except (ValueError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{path}: the manifest must be a mapping with a 'jobs' key")
    return document


def _unique_keys(path: Path):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ManifestError(f"{path}: duplicate key(s) {', '.join(duplicates)}")
        return dict(pairs)

    return hook


def _unique_key_loader(path: Path) -> type[yaml.SafeLoader]:
    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise ManifestError(f"{path}: line {key_node.start_mark.line + 1}: duplicate key {key!r}")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _correction(job_id: str, entry: dict[str, Any], root: Path, manifest_path: Path) -> JobCorrection:
    where = f"{manifest_path}: job {job_id}"
    update = dict(entry.get("update") or {})
    try:
        validate_body(update, UPDATE_BODY_SCHEMA, operation="update")
    except MetaStudioValidationError as exc:
        raise ManifestError(f"{where}: update.{exc.field}: {str(exc).removeprefix('update: ')}") from None
    assets = {
        kind: _asset(kind, location, root, f"{where}: assets.{kind}")
        for kind, location in entry.get("assets", {}).items()
    }
    if not assets and not update:
        raise ManifestError(f"{where}: nothing to correct (no update fields and no assets)")
    return JobCorrection(job_id=job_id, update=update, assets=assets, note=entry.get("note"))


def _asset(kind: str, location: str, root: Path, where: str) -> AssetSource:
    if "://" in location:
        return _object_storage_asset(kind, location, where)
    relative = Path(location)
    if relative.is_absolute():
        raise ManifestError(f"{where}: {location!r} must be relative to assets_root {root}")
    candidate = root / relative
    try:
        resolved = candidate.resolve()  # follows symlinks: a link pointing out of the root is refused too
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ManifestError(f"{where}: {location!r} cannot be resolved: {exc}") from None
    if not resolved.is_relative_to(root):
        raise ManifestError(f"{where}: {location!r} is outside assets_root {root}")
    if not resolved.is_file():
        raise ManifestError(f"{where}: {location!r} does not exist (looked for {candidate})")
    try:
        with resolved.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise ManifestError(f"{where}: {location!r} cannot be read: {exc.strerror}") from None
    size = resolved.stat().st_size
    _check_kind(kind, head, size, location, where)
    return AssetSource(kind=kind, location=str(resolved), size=size)


def _object_storage_asset(kind: str, uri: str, where: str) -> AssetSource:
    from airflow.sdk import ObjectStoragePath

    try:
        path = ObjectStoragePath(uri)
        size = path.stat()["size"] if isinstance(path.stat(), dict) else path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
    except Exception as exc:  # any backend error: missing object, no credentials, unknown scheme
        raise ManifestError(f"{where}: cannot read {uri}: {type(exc).__name__}: {exc}") from None
    _check_kind(kind, head, size, uri, where)
    return AssetSource(kind=kind, location=uri, size=size)


def _check_kind(kind: str, head: bytes, size: int, location: str, where: str) -> None:
    spec = ASSET_KINDS[kind]
    if size == 0:
        raise ManifestError(f"{where}: {location!r} is empty")
    if size > spec.max_bytes:
        raise ManifestError(f"{where}: {location!r} is {size} bytes; the limit for {kind} is {spec.max_bytes}")
    found = sniff_format(head)
    if found not in spec.formats:
        raise ManifestError(
            f"{where}: {location!r} looks like {found or 'an unknown format'}; {kind} must be {'/'.join(spec.formats)}"
        )


def sniff_format(head: bytes) -> str | None:
    """File type from its first bytes (the same rules the sandbox's reviewer applies)."""
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None
