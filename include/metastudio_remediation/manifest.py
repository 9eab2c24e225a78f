"""The corrections manifest: which jobs to fix, with which update fields and replacement assets.

A manifest is YAML or JSON (schema: ``manifest.schema.json``, documented in ``docs/corrections.md``).
Problems with the file as a whole (unreadable, malformed, wrong top-level shape, duplicate job
ids) raise :class:`ManifestError`, naming the file. Problems with one job's entry (a bad update
field, a missing or unreadable file, a path escaping the assets root, an empty or oversized file,
a file of the wrong type) are recorded for that job only, so the other jobs are still fixed.

Every replacement file is also inspected before anything is uploaded (the pre-flight check,
:func:`metastudio_provider.media.inspect_asset`): a file of the right type whose content breaks a
review rule (a 720p or 2-minute video, a PNG named ``.jpg``, a truncated file) is not an error of
the manifest but a job that needs a person; its findings are kept on the :class:`JobCorrection`
and the plan puts the job aside with them. A job can turn the check off, or skip some rules
(``preflight`` in the manifest).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import urlsplit

import jsonschema
import yaml

from metastudio_provider.exceptions import MetaStudioValidationError
from metastudio_provider.file_identity import FileIdentity, FileIdentityError, ObjectIdentity, PinnedFile
from metastudio_provider.media import HEAD_BYTES, KIND_FORMATS, Inspection, inspect_asset, sniff
from metastudio_provider.models import JOB_ID_RULE_TEXT, is_job_id
from metastudio_provider.sources import is_object_storage
from metastudio_provider.validation import UPDATE_BODY_SCHEMA, validate_body
from metastudio_remediation.media_repair.rules import REMUX, REMUXABLE_FORMATS  # media repair (issue 19)

log = logging.getLogger(__name__)
_LOGGED_FACTS = ("format", "codec", "width", "height", "rotation", "duration_s", "size")

# What each asset kind must look like: content type for the upload, accepted file formats (the
# pre-flight module's list), and a size ceiling that catches a wrong file long before it is
# streamed to the cloud.
GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class AssetKind:
    content_type: str
    formats: tuple[str, ...]
    max_bytes: int


_CONTENT_TYPES_AND_LIMITS = {
    "training_video": ("application/octet-stream", 20 * GiB),
    "action_video": ("application/octet-stream", 20 * GiB),
    "audio": ("application/zip", 2 * GiB),
    "cover": ("application/octet-stream", 20 * MiB),
    "id_card_front": ("application/octet-stream", 20 * MiB),
    "id_card_back": ("application/octet-stream", 20 * MiB),
    "authorization_letter": ("application/octet-stream", 50 * MiB),
}
ASSET_KINDS: dict[str, AssetKind] = {
    kind: AssetKind(content_type, KIND_FORMATS[kind][0], limit)
    for kind, (content_type, limit) in _CONTENT_TYPES_AND_LIMITS.items()
}
MULTIPART_KINDS = frozenset({"training_video", "action_video"})


class ManifestError(ValueError):
    """The manifest file cannot be used at all."""


# Bounds checked before (size) and while (depth, aliases) a manifest is parsed: a manifest of
# 10,000 jobs is about 2 MB; nothing legitimate nests deeper than a few levels.
MAX_MANIFEST_BYTES = 8 * MiB
MAX_DEPTH = 32
MAX_MESSAGE_CHARS = 500
_SURROGATE = re.compile("[\ud800-\udfff]")
# The C loader when PyYAML was built with libyaml; without the implicit timestamp type, so a
# date-like value stays text instead of failing to construct (2001-13-45) or becoming a date.
_EVENT_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _ManifestLoader(_EVENT_LOADER):  # type: ignore[valid-type,misc]
    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _EVENT_LOADER.yaml_implicit_resolvers.items()
    }


@dataclass(frozen=True)
class AssetSource:
    """One replacement file: where it is (absolute local path or object-storage URI), its size, and
    the identity of what was checked (``FileIdentity``/``ObjectIdentity.to_dict()``), which the
    upload verifies before sending a byte."""

    kind: str
    location: str
    size: int
    identity: dict[str, Any] | None = None

    @property
    def content_type(self) -> str:
        return ASSET_KINDS[self.kind].content_type


@dataclass(frozen=True)
class Preflight:
    """A job's pre-flight setting: on (the default), off, or on without some rules."""

    enabled: bool = True
    skip: frozenset[str] = frozenset()

    @classmethod
    def from_entry(cls, value: Any) -> Preflight:
        """From the manifest's ``preflight`` value (already schema-checked): true, false or {skip: [...]}."""
        if isinstance(value, dict):
            return cls(enabled=True, skip=frozenset(value["skip"]))
        return cls(enabled=value is not False)


@dataclass(frozen=True)
class JobCorrection:
    """One job's entry.

    ``findings`` are the pre-flight findings of its files that the job does not skip, as JSON-safe
    dicts (``asset``, ``file``, ``rule``, ``measured``, ``message``, ``review_code``); any finding
    means the job would certainly fail review and must not be updated.
    """

    job_id: str
    update: dict[str, Any]
    assets: dict[str, AssetSource]
    note: str | None = None
    findings: tuple[dict[str, Any], ...] = ()
    repair: tuple[str, ...] = ()  # media repair (issue 19): the repairs the manifest allows for this job


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
        raise ManifestError(shorten(f"{manifest_path}: {where}: {error.message}"))

    bad_ids = [job_id for job_id in document["jobs"] if not is_job_id(job_id)]
    if bad_ids:  # the schema's pattern uses '$', which accepts a trailing newline; this is the full match
        raise ManifestError(shorten(f"{manifest_path}: jobs: {bad_ids[0]!r}: {JOB_ID_RULE_TEXT}"))
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
            manifest.errors[job_id] = shorten(f"{manifest_path}: job {job_id}: {where}{error.message}")
            continue
        try:
            with_default = {"repair": document.get("repair", []), **entry}  # media repair (issue 19)
            manifest.corrections[job_id] = _correction(job_id, with_default, root, manifest_path)
        except ManifestError as exc:
            manifest.errors[job_id] = shorten(str(exc))
    return manifest


def _in_job_entry(error: jsonschema.ValidationError) -> bool:
    path = list(error.absolute_path)
    return len(path) >= 2 and path[0] == "jobs"


def _parse(path: Path) -> dict[str, Any]:
    """The document of a manifest file, or :class:`ManifestError` naming the file and the place.

    Bounded before anything is parsed: the file may hold at most ``MAX_MANIFEST_BYTES``; YAML
    is first read as a stream of events (no document built) to refuse aliases, tags, non-scalar
    keys and nesting deeper than ``MAX_DEPTH``, so nothing can expand or recurse; only then is it
    loaded, with the C loader where PyYAML has it. JSON gets the same shape checks afterwards.
    """
    text = _read_text(path)
    is_json = path.suffix.lower() == ".json"
    try:
        if is_json:
            document = json.loads(text, object_pairs_hook=_unique_keys(path))
        else:
            _check_yaml_events(text, path)
            document = yaml.load(text, Loader=_unique_key_loader(path))  # noqa: S506 - a SafeLoader subclass
    except ManifestError:
        raise
    except RecursionError:
        raise ManifestError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ManifestError(shorten(f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}")) from None
    if not isinstance(document, dict):
        raise ManifestError(f"{path}: the manifest must be a mapping with a 'jobs' key")
    _check_values(document, path)
    return document


def _read_text(path: Path) -> str:
    """The file's text, refusing a file over ``MAX_MANIFEST_BYTES`` before reading more than that."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = getattr(exc, "strerror", None) or exc
        raise ManifestError(shorten(f"{path}: cannot read the corrections manifest: {reason}")) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{path}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes (the limit); split it into several runs"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from None


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: no error message renders an unbounded value."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_yaml_events(text: str, path: Path) -> None:
    """Refuse what a manifest never needs and what could make loading unbounded, from the event stream."""
    stack: list[list[Any]] = []  # per open collection: [is_mapping, next node is a key]
    for event in yaml.parse(text, Loader=_EVENT_LOADER):
        where = f"{path}: line {event.start_mark.line + 1}, column {event.start_mark.column + 1}"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ManifestError(f"{where}: YAML anchors and aliases (&name, *name) are not allowed in a manifest")
        if isinstance(event, yaml.NodeEvent):
            tag = getattr(event, "tag", None)
            if tag not in (None, "!"):
                raise ManifestError(shorten(f"{where}: YAML tags ({tag}) are not allowed in a manifest"))
            if stack and stack[-1][0]:
                if stack[-1][1] and not isinstance(event, yaml.ScalarEvent):
                    raise ManifestError(f"{where}: a mapping key must be a plain value, not a list or a mapping")
                stack[-1][1] = not stack[-1][1]
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise ManifestError(f"{where}: nested deeper than {MAX_DEPTH} levels")
            stack.append([isinstance(event, yaml.MappingStartEvent), True])
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()


def _check_values(document: dict[str, Any], path: Path) -> None:
    """Every key a string, every value JSON data; no NUL, unpaired surrogate or non-finite number."""
    pending: list[tuple[str, Any, int]] = [("", document, 1)]
    while pending:
        where, value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ManifestError(f"{path}: {where}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ManifestError(
                        shorten(f"{path}: {where or 'top level'}: key {key!r} is not a string; quote it")
                    )
                pending.append((f"{where}/{_printable(key)}".lstrip("/"), item, depth + 1))
        elif isinstance(value, list):
            pending.extend((f"{where}/{index}", item, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise ManifestError(f"{path}: {where}: the text {problem}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ManifestError(f"{path}: {where}: {value} is not a finite number")
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise ManifestError(f"{path}: {where}: a {type(value).__name__} value is not allowed; use plain text")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if _SURROGATE.search(text):
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def _printable(key: str) -> str:
    """A key for a location in a message: bounded and with its control characters shown escaped."""
    return shorten(key.encode("unicode_escape", "backslashreplace").decode("ascii"), 80)


def _unique_keys(path: Path):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ManifestError(f"{path}: duplicate key(s) {', '.join(duplicates)}")
        return dict(pairs)

    return hook


def _unique_key_loader(path: Path) -> type[yaml.SafeLoader]:
    class UniqueKeyLoader(_ManifestLoader):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)  # a scalar: _check_yaml_events refused others
                if key in seen:
                    shown = shorten(repr(key), 80)
                    raise ManifestError(f"{path}: line {key_node.start_mark.line + 1}: duplicate key {shown}")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _correction(job_id: str, entry: dict[str, Any], root: Path, manifest_path: Path) -> JobCorrection:
    where = f"{manifest_path}: job {job_id}"
    update = dict(entry.get("update") or {})
    try:
        validate_body(update, UPDATE_BODY_SCHEMA, operation="update")
    except MetaStudioValidationError as exc:
        raise ManifestError(shorten(f"{where}: update.{exc.field}: {str(exc).removeprefix('update: ')}")) from None
    preflight = Preflight.from_entry(entry.get("preflight", True))
    if not preflight.enabled:
        log.warning("Pre-flight: off for job %s (preflight: false); its files are uploaded unchecked", job_id)
    assets: dict[str, AssetSource] = {}
    findings: list[dict[str, Any]] = []
    repair = tuple(entry["repair"])  # media repair (issue 19)
    for kind, location in entry.get("assets", {}).items():
        remux = preflight.enabled and REMUX in repair  # a MOV is then a finding to repair, not a wrong file
        source, inspection = _asset(kind, location, root, f"{where}: assets.{kind}", preflight.enabled, remux)
        assets[kind] = source
        if inspection is not None:
            findings.extend(_kept_findings(job_id, kind, inspection, preflight.skip))
    if not assets and not update:
        raise ManifestError(f"{where}: nothing to correct (no update fields and no assets)")
    return JobCorrection(
        job_id=job_id, update=update, assets=assets, note=entry.get("note"), findings=tuple(findings), repair=repair
    )


def _kept_findings(job_id: str, kind: str, inspection: Inspection, skip: Iterable[str]) -> list[dict[str, Any]]:
    """The inspection's findings as JSON-safe dicts, without the rules the job skips; logs the outcome."""
    skipped = set(skip)
    kept = [
        {"asset": kind, "file": inspection.name, **finding.to_dict()}
        for finding in inspection.findings
        if finding.rule not in skipped
    ]
    facts = ", ".join(
        f"{key} {inspection.facts[key]}" for key in _LOGGED_FACTS if inspection.facts.get(key) is not None
    )
    verdict = f"{len(kept)} finding(s): " + "; ".join(f["message"] for f in kept) if kept else "passes"
    ignored = sorted({finding.rule for finding in inspection.findings} & skipped)
    note = f" (rules skipped by the manifest: {', '.join(ignored)})" if ignored else ""
    level = logging.WARNING if kept else logging.INFO
    log.log(level, "Pre-flight: job %s %s %s (%s): %s%s", job_id, kind, inspection.name, facts, verdict, note)
    return kept


def _asset(
    kind: str, location: str, root: Path, where: str, preflight: bool, remux: bool = False
) -> tuple[AssetSource, Inspection | None]:
    """Resolve, pin and check one file; with ``preflight``, also its pre-flight inspection.

    The inspection reads the file through the same :class:`PinnedFile` the upload will use, so the
    identity recorded here is the file that was inspected.
    """
    if is_object_storage(location):
        return _object_storage_asset(kind, location, where, preflight, remux)
    try:
        relative = Path(location)
        if relative.is_absolute():
            raise ManifestError(f"{where}: {location!r} must be relative to assets_root {root}")
        candidate = root / relative
        resolved = candidate.resolve()  # follows symlinks: a link pointing out of the root is refused too
        if not resolved.is_relative_to(root):
            raise ManifestError(f"{where}: {location!r} is outside assets_root {root}")
        if not resolved.is_file():
            raise ManifestError(f"{where}: {location!r} does not exist (looked for {candidate})")
        source = PinnedFile(FileIdentity.of(resolved))
        size = source.identity.size
        inspection = _inspect(kind, source, location, where) if preflight and size else None
        head = b"" if inspection else _head(source.open("rb"))
    except ManifestError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # FileIdentityError, a loop, a NUL, a name too long
        reason = getattr(exc, "strerror", None) or exc
        raise ManifestError(shorten(f"{where}: {location!r} cannot be read: {reason}")) from None
    found = inspection.facts.get("format") if inspection else sniff(head)
    _check_kind(kind, found, size, location, where, remux)
    return AssetSource(kind, str(resolved), size, source.identity.to_dict()), inspection


def _object_storage_asset(
    kind: str, uri: str, where: str, preflight: bool, remux: bool = False
) -> tuple[AssetSource, Inspection | None]:
    """Check an object-storage file by its size and a few ranged reads, never downloading all of it.

    Its size and version markers (ETag, generation, ...) are recorded before the inspection and
    must be the same after it; the upload checks them again.
    """
    from airflow.sdk import ObjectStoragePath

    name = urlsplit(uri)._replace(query="", fragment="").geturl()  # never a signature or token in a message
    try:
        path = ObjectStoragePath(uri)
        identity = ObjectIdentity.from_stat(uri, path.stat())
        size = identity.size
        inspection = _inspect(kind, path, name, where) if preflight and size else None
        head = b"" if inspection else _head(path.open("rb", block_size=HEAD_BYTES))
        changed = identity.difference(ObjectIdentity.from_stat(uri, path.stat()))
    except ManifestError:
        raise
    except Exception as exc:  # any backend error: missing object, no credentials, unknown scheme
        raise ManifestError(shorten(f"{where}: cannot read {name}: {type(exc).__name__}: {exc}")) from None
    if changed:
        raise ManifestError(f"{where}: {name} changed while it was inspected: {changed}")
    found = inspection.facts.get("format") if inspection else sniff(head)
    _check_kind(kind, found, size, name, where, remux)
    return AssetSource(kind=kind, location=uri, size=size, identity=identity.to_dict()), inspection


def _head(stream: IO[bytes]) -> bytes:
    with stream:
        return stream.read(HEAD_BYTES)


def _inspect(kind: str, source: Any, name: str, where: str) -> Inspection:
    """The pre-flight inspection; a crash of the inspector fails this job only, and says how to go on."""
    try:
        return inspect_asset(kind, source, name=name)
    except (OSError, FileIdentityError):  # unreadable or changed: reported as such by the caller
        raise
    except Exception as exc:  # an inspector bug must not stop the other jobs, nor let the file through
        raise ManifestError(
            shorten(
                f"{where}: the pre-flight inspection of {name!r} failed ({type(exc).__name__}: {exc}); the file "
                "may be corrupt, so nothing is sent for this job: check that it opens, or report the inspector error"
            )
        ) from None


def _check_kind(kind: str, found: str | None, size: int, location: str, where: str, remux: bool = False) -> None:
    """Emptiness, size ceiling and format: a file failing these is the wrong file, an error of the manifest.

    With ``remux`` (the job allows that repair), a video in a container a remux turns into an MP4
    (media repair, issue 19) is not the wrong file: its pre-flight finding says it needs the remux.
    """
    spec = ASSET_KINDS[kind]
    if size == 0:
        raise ManifestError(f"{where}: {location!r} is empty")
    if size > spec.max_bytes:
        raise ManifestError(f"{where}: {location!r} is {size} bytes; the limit for {kind} is {spec.max_bytes}")
    if found not in spec.formats and not (remux and kind in MULTIPART_KINDS and found in REMUXABLE_FORMATS):
        raise ManifestError(
            f"{where}: {location!r} looks like {found or 'an unknown format'}; {kind} must be {'/'.join(spec.formats)}"
        )
