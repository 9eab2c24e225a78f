"""Nothing a run leaves behind holds a credential, a presigned signature or a copy of a person's files.

Two runs against one sandbox: AK/SK with faults on the paths that quote URLs in errors (a lost
upload answer ends in 403 ``OBS.0410`` and a second Update, retried 5xx and dropped connections)
and a job MetaStudio refuses (alerted), then IAM token auth (which fixes that job once its
correction is fixed). Then we scan everything they left:

* the task output (``airflow dags test`` prints each task's log; it writes no log files, which we
  check too: a scheduler run writes the same records to files, and ``tests/deployment`` scans those);
* every row of the ``xcom``, ``rendered_task_instance_fields`` and ``task_state_store`` tables of the
  metadata DB (the sealed URLs live in the task state store, for retries);
* the JSON reports and the alert bodies;
* every file under AIRFLOW_HOME and the runs' TMPDIR;

for the AK, the SK, the IAM password, IAM tokens, ``Authorization`` values and the ``Signature=``
/ ``Expires=`` of every presigned URL the sandbox issued: zero hits. ID-card images, the letter and
the video exist only in the assets folder and in what MetaStudio received; no temporary file is left.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from metastudio_sandbox.server import run_in_thread
from tests.reliability.harness import (
    AK,
    FIXABLE,
    FLEXUS,
    PROJECT_ID,
    SCENARIO,
    SK,
    alerts,
    assert_fixed,
    calls,
    copies_of,
    fault,
    find_leaks,
    metadata_rows,
    rewrite_manifest,
    run_dag,
    text_files,
    url_signatures,
    write_manifest,
)

pytestmark = pytest.mark.slow
IAM_PASSWORD = "Iam-Passw0rd-reliability-7f3a9c"
TOKEN = re.compile(r"MIIS[A-Za-z0-9_=-]{20,}")
PRESIGNED = re.compile(r"(Signature|Expires|X-Amz-Signature|AccessKeyId)=[^<\s&\"']")
AUTH_HEADER = re.compile(r"SDK-HMAC-SHA256\s+Access=|X-(Auth|Subject)-Token['\"]?\s*[:=]\s*['\"]?MII")


def test_no_secret_and_no_copy_left_behind(airflow_env, tmp_path: Path) -> None:
    started = time.time() - 1
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    env = {**airflow_env, "TMPDIR": str(worker_tmp)}
    manifest = write_manifest(tmp_path, with_flexus=True)
    settings = {"iam_password": IAM_PASSWORD, "review_delay": 0.3}
    with run_in_thread(ak=AK, sk=SK, project_id=PROJECT_ID, scenario=SCENARIO, **settings) as server:
        url = server.url
        fault(url, "update", error_next=1, error_status=503)
        fault(url, "command", drop_next=1)
        fault(url, "upload", drop_response_next=1)
        first = run_dag(env, url, manifest)
        assert first.returncode != 0 and [j for j, s in first.statuses().items() if s == "failed"] == [FLEXUS]
        assert any("OBS.0410" in row["detail"] for row in first.report["jobs"])  # used URL: a second Update

        rewrite_manifest(manifest, lambda document: document["jobs"][FLEXUS]["update"].pop("supported_service"))

        token_auth = {
            "login": None,
            "password": IAM_PASSWORD,
            "auth_method": "token",
            "iam_endpoint": url,
            "domain_name": "sandbox-domain",
            "user_name": "sandbox-user",
        }
        second = run_dag(env, url, manifest, **token_auth)
        assert second.returncode == 0, second.output[-4000:]
        assert second.statuses()[FLEXUS] == "resubmitted"
        assert_fixed(url, manifest, FIXABLE)
        assert calls(url, "PUT", "update")[-1]["auth"] == "token"

        signatures = url_signatures(server.sandbox)
        alert_bodies = alerts(url)
        data_dir = Path(server.sandbox.settings.data_dir or "/nonexistent")

    assert len(signatures) >= 10 and alert_bodies
    home = Path(airflow_env["AIRFLOW_HOME"])
    tables = metadata_rows(airflow_env)
    texts = {
        "dags test output (run 1)": first.output,
        "dags test output (run 2)": second.output,
        **{f"table {name}": rows for name, rows in tables.items()},
        "alerts": json.dumps(alert_bodies),
        **{str(path): text for path, text in text_files(manifest.parent / "reports", home, worker_tmp).items()},
    }
    assert "remediate_job" in tables["xcom"] and "remediate_job" in tables["task_state_store"]
    assert not find_leaks(texts, [AK, SK, IAM_PASSWORD, *signatures])
    for pattern in (TOKEN, PRESIGNED, AUTH_HEADER):
        hits = [f"{where}: {m.group(0)[:16]}" for where, text in texts.items() for m in pattern.finditer(text)]
        assert not hits, hits
    assert "fernet:" in tables["task_state_store"]  # the URLs are kept for retries, sealed
    assert "fernet:" not in tables["xcom"] and "_obs/upload" not in tables["xcom"]  # XCom has no URL at all

    assets = manifest.parent / "assets"
    assert not copies_of(assets, [home, worker_tmp, tmp_path], since=started, exclude=[data_dir])
    assert not [p for p in worker_tmp.rglob("*")], "temporary files left behind"
    assert not [p for p in (home / "logs").rglob("*") if p.is_file()]  # dags test writes no task log files
