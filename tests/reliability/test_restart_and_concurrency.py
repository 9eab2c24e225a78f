"""The sandbox restarted in the middle of a run, and two runs started at once.

Restart: the sandbox runs as a subprocess with a data dir and is restarted (SIGTERM, start again on
the same port) right after the first upload was accepted. Calls made while it is down fail to
connect and are retried; jobs, files and URL states survive the restart, so the run ends clean.

Two runs at once: ``max_active_runs=1`` makes a scheduler queue a manual trigger behind the nightly
run (checked in ``test_dag_integrity``/the DAG definition). ``airflow dags test`` has no scheduler,
so here two runs really overlap (two Airflow homes, one sandbox), the worst case: a run may find
its URLs superseded by the other's Update, or the job already in review. Whatever the
interleaving: no job is submitted twice, a job reported resubmitted by a run really was resubmitted
with the right bytes, every job is fixed by one of the two runs, and each run alerts at most once,
only on the jobs it reports failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import (
    FIXABLE,
    REPORTER,
    BackgroundRun,
    Rule,
    SubprocessSandbox,
    Watcher,
    alerts,
    answered,
    assert_alerts,
    assert_fixed,
    assert_not_resubmitted,
    clone_airflow_home,
    run_dag,
    submissions,
    write_manifest,
)

pytestmark = pytest.mark.slow


def test_sandbox_restarted_in_the_middle_of_a_run(airflow_env, manifest, tmp_path: Path) -> None:
    server = SubprocessSandbox(tmp_path / "sandbox-data").start()
    try:
        restart = Rule("restart after the first upload", answered("PUT", "upload"), server.restart)
        with Watcher(server.url, [restart]) as watcher:
            result = run_dag(airflow_env, server.url, manifest, retry_limit=8, connect_timeout=2)
        assert watcher.fired() == {restart.name: True} and not watcher.errors, watcher.errors

        assert result.returncode == 0, result.output[-4000:]
        assert "ConnectionError" in result.output or "Connection refused" in result.output  # it was down
        assert_fixed(server.url, manifest)
        assert_not_resubmitted(server.url, REPORTER)
        assert_alerts(server.url, result, failed_jobs=())
        assert {result.statuses()[job] for job in FIXABLE} == {"resubmitted"}
    finally:
        server.stop()


def test_two_runs_at_once(airflow_env, tmp_path: Path) -> None:
    server = SubprocessSandbox(tmp_path / "sandbox-data", review_delay=120).start()  # stays in review
    try:
        # Both runs read the same manifest, as a manual trigger during the nightly run would.
        shared = write_manifest(tmp_path / "shared", with_flexus=False)
        manifests = [shared, shared]
        second_home = clone_airflow_home(airflow_env, tmp_path / "second-airflow-home")
        runs = [
            BackgroundRun(airflow_env, server.url, shared),
            BackgroundRun(second_home, server.url, shared),
        ]
        results = [run.wait() for run in runs]

        fixed_by = {
            job: [i for i, r in enumerate(results) if r.statuses().get(job) == "resubmitted"] for job in FIXABLE
        }
        for job in FIXABLE:
            assert submissions(server.url, job) == 2, job  # the scenario's + exactly one, never two
            assert len(fixed_by[job]) == 1, (job, [r.statuses() for r in results])
            assert_fixed(server.url, manifests[fixed_by[job][0]], [job])
        assert_not_resubmitted(server.url, REPORTER)
        sent = alerts(server.url)
        failing_runs = [r for r in results if "failed" in r.statuses().values()]
        assert len(sent) == len(failing_runs)  # one alert per run that had failures, none otherwise
        alerted = sorted(job for body in sent for job in {e["job_id"] for e in body["errors"]})
        reported = sorted(j for r in results for j, status in r.statuses().items() if status == "failed")
        assert alerted == reported
        for result in results:
            assert (result.returncode == 0) == ("failed" not in result.statuses().values()), result.output[-3000:]
    finally:
        server.stop()
