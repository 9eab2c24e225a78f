"""``metastudio-media``: the pre-flight check and the repairs, for the people who prepare the files.

::

    metastudio-media check FILE... [--kind training_video] [--json]
    metastudio-media repair IN OUT [--allow remux,trim,downscale] [--keep start|middle]
                                   [--max-duration 9m50s] [--force] [--json]

``check`` applies the same rules as the remediation DAG's pre-flight step to local paths and
object-storage URLs; exit status 0 when every file would pass, 1 when any would fail, 2 on a
usage error or a file that cannot be read. ``repair`` writes a repaired MP4 when every finding
is repairable under ``--allow`` (default ``remux,trim``: no re-encoding), prints what it did,
and otherwise refuses with exit status 1 and writes nothing. ``docs/media.md`` has the details.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from metastudio_provider.media import KIND_FORMATS, AssetSourceError, Inspection, inspect_asset
from metastudio_provider.redaction import redact_url
from metastudio_provider.sources import is_object_storage
from metastudio_remediation.media_repair import rules
from metastudio_remediation.media_repair.errors import RepairRefused
from metastudio_remediation.media_repair.progress import ProgressBar, ProgressLines
from metastudio_remediation.media_repair.repair import KEEP, describe, repair_file
from metastudio_remediation.media_repair.sources import name_of, sha256_of

PASSED, FAILED, USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ValueError as exc:  # a bad argument value the parser could not check (RepairRefused is handled)
        parser.error(str(exc))
    return USAGE  # unreachable: parser.error exits


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metastudio-media", description="Check videos and files against MetaStudio's review rules; repair videos."
    )
    commands = parser.add_subparsers(required=True, metavar="{check,repair}")
    check = commands.add_parser("check", help="apply the pre-flight rules; exit 0 pass, 1 fail, 2 usage error")
    check.add_argument("files", nargs="+", metavar="FILE", help="local paths or object-storage URLs (s3://...)")
    check.add_argument("--kind", default="training_video", choices=sorted(KIND_FORMATS), help="the asset kind")
    check.add_argument("--json", action="store_true", help="one JSON document on stdout")
    check.set_defaults(run=_check)
    repair = commands.add_parser("repair", help="write a repaired MP4, or refuse and write nothing")
    repair.add_argument("source", metavar="IN", help="the video to repair (local path or object-storage URL)")
    repair.add_argument("dest", metavar="OUT", help="where to write the repaired MP4 (.mp4)")
    repair.add_argument(
        "--allow",
        default=",".join(rules.SAFE_REPAIRS),
        help="repairs that may be made: remux, trim, downscale (re-encodes); default %(default)s",
    )
    repair.add_argument("--keep", default="start", choices=KEEP, help="what a trim keeps (default %(default)s)")
    repair.add_argument(
        "--max-duration",
        default=str(rules.DEFAULT_MAX_DURATION_S),
        help="longest length after a trim: seconds, 9m50s or 9:50 (default %(default)s s)",
    )
    repair.add_argument("--kind", default="training_video", choices=["training_video", "action_video"])
    repair.add_argument("--force", action="store_true", help="replace OUT if it exists")
    repair.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    repair.set_defaults(run=_repair)
    return parser


# --- check ----------------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    status = PASSED
    for source in args.files:
        try:
            inspection = inspect_asset(args.kind, source)
        except AssetSourceError as exc:
            results.append({"source": _shown(source), "error": str(exc)})
            status = USAGE
            continue
        results.append({"source": _shown(source), **inspection.to_dict(), "repairs": _repair_hint(inspection)})
        if not inspection.ok and status == PASSED:
            status = FAILED
    if args.json:
        print(json.dumps({"ok": status == PASSED, "files": results}, indent=2))
    else:
        for result in results:
            print(_check_lines(result))
    return status


def _repair_hint(inspection: Inspection) -> dict[str, Any]:
    needed, hopeless = rules.repairs_needed(finding.to_dict() for finding in inspection.findings)
    return {"needed": needed, "repairable": bool(needed) and not hopeless}


def _check_lines(result: dict[str, Any]) -> str:
    name = result.get("name") or result["source"]
    if "error" in result:
        return f"ERROR {result['source']}: {result['error']}"
    if result["ok"]:
        return f"PASS  {name}"
    lines = []
    for finding in result["findings"]:
        verdict = rules.verdict(finding)
        message = finding["message"].removeprefix(f"{name}: ")
        measured = f" [{finding['measured']}]" if finding["measured"] else ""
        fix = f" (repair: {verdict.repair})" if verdict.repair else " (not repairable)"
        lines.append(f"FAIL  {name}  {finding['rule']}{measured}: {message}{fix}")
    if result["repairs"]["repairable"]:
        allow = ",".join(result["repairs"]["needed"])
        lines.append(f"      repair it: metastudio-media repair {result['source']} OUT.mp4 --allow {allow}")
    return "\n".join(lines)


# --- repair ---------------------------------------------------------------------------------------


def _repair(args: argparse.Namespace) -> int:
    allow = rules.parse_allow(args.allow)
    max_duration = parse_duration(args.max_duration)
    if os.path.abspath(args.dest) == os.path.abspath(args.source):
        raise ValueError("OUT must be another file than IN")
    if os.path.exists(args.dest) and not args.force:
        raise ValueError(f"{args.dest} exists; pass --force to replace it")
    progress = ProgressBar() if sys.stderr.isatty() else ProgressLines()
    try:
        result = repair_file(
            args.source,
            args.dest,
            kind=args.kind,
            allow=allow,
            keep=args.keep,
            max_duration=max_duration,
            progress=progress,
        )
    except RepairRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return FAILED
    except AssetSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    digests = {"source_sha256": sha256_of(args.source), "dest_sha256": sha256_of(args.dest) if result.dest else None}
    if args.json:
        print(json.dumps({**result.to_dict(), **digests}, indent=2))
    elif not result.repairs:
        print(f"{name_of(args.source)} already passes the pre-flight rules; nothing to repair, nothing written")
    else:
        print(f"repaired {name_of(args.source)} -> {args.dest}: {describe(result.changes)}")
        print(f"sha256 {digests['source_sha256']}  {name_of(args.source)} (original)")
        print(f"sha256 {digests['dest_sha256']}  {args.dest} (repaired; passes the pre-flight rules)")
    return PASSED


def parse_duration(text: str) -> float:
    """``590``, ``590s``, ``9m50s``, ``9m`` or ``9:50`` -> seconds; ValueError otherwise."""
    value = text.strip().lower()
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)s?", value):
        return float(match.group(1))
    if match := re.fullmatch(r"(\d+)m(?:(\d+(?:\.\d+)?)s)?", value):
        return 60 * int(match.group(1)) + float(match.group(2) or 0)
    if match := re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", value):
        return 60 * int(match.group(1)) + float(match.group(2))
    raise ValueError(f"--max-duration {text!r}: use seconds (590), 9m50s or 9:50")


def _shown(source: str) -> str:
    """A source as printed: a URL without its query string (a presigned URL's signature is a secret)."""
    return redact_url(source) if is_object_storage(source) else source


if __name__ == "__main__":
    raise SystemExit(main())
