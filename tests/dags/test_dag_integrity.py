"""The DAG folder imports cleanly, offline, without Variable or Connection lookups, and is configured as promised."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_ID = "metastudio_training_remediation"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dags


def test_parsing_needs_no_network_variables_or_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    def forbidden(*args, **kwargs):
        raise AssertionError("DAG parsing must not do this")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(Variable, "get", forbidden)
    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {} and DAG_ID in bag.dags


def test_schedule_and_run_policy(dagbag) -> None:
    dag = dagbag.dags[DAG_ID]
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 2 * * *", "Asia/Shanghai")
    assert dag.catchup is False and dag.max_active_runs == 1
    assert {"metastudio", "remediation"} <= set(dag.tags)
    assert all(task.retries >= 1 for task in dag.tasks)
    assert all(task.retry_policy is not None for task in dag.tasks)  # bad input fails at once
    assert {task.task_id for task in dag.tasks if task.pool == "metastudio_api"} == {
        "remediate_job",
        "remediate_answered_job",
        "wait_for_review",
    }
    report = dag.get_task("alert_and_report")
    assert report.trigger_rule == "all_done"
    # It watches (and waits for) every other task: all of them are upstream of it.
    assert set(report.get_flat_relative_ids(upstream=True)) == {task.task_id for task in dag.tasks} - {
        "alert_and_report"
    }


def test_one_mapped_task_per_job_and_no_glue_between_the_steps(dagbag) -> None:
    """The work of a job is one task instance (see docs/remediation.md, "Design: task granularity")."""
    dag = dagbag.dags[DAG_ID]
    assert {task.task_id for task in dag.tasks} == {
        "find_failed_jobs",
        "plan",
        "remediate_job",
        "review_requests",
        "wait_for_review",
        "person_requests",
        "ask_a_person",
        "apply_answers",
        "remediate_answered_job",
        "alert_and_report",
    }
    assert {task.task_id for task in dag.tasks if task.is_mapped} == {
        "remediate_job",
        "wait_for_review",
        "ask_a_person",
        "remediate_answered_job",
    }
    assert dag.get_task("remediate_job").upstream_task_ids == {"plan"}


def test_a_person_is_asked_with_a_human_in_the_loop_request_per_job(dagbag) -> None:
    """ask_a_person: one HITL request per job needing a person, answers applied in the same run."""
    from airflow.providers.standard.operators.hitl import HITLOperator

    from metastudio_remediation.human import FIELDS_PARAM, OPTIONS

    dag = dagbag.dags[DAG_ID]
    ask = dag.get_task("ask_a_person")
    assert issubclass(ask.operator_class, HITLOperator)
    assert ask.partial_kwargs["options"] == OPTIONS
    assert FIELDS_PARAM in ask.params  # with the DAG's own; the operator keeps only its own
    assert dag.get_task("person_requests").upstream_task_ids == {"plan"}
    assert dag.get_task("apply_answers").upstream_task_ids == {"person_requests", "ask_a_person"}
    assert dag.get_task("remediate_answered_job").upstream_task_ids == {"apply_answers"}


def test_trigger_params_are_validated(dagbag) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = dagbag.dags[DAG_ID].params
    assert ParamsDict(params).validate() == {
        "job_ids": [],
        "dry_run": False,
        "corrections_path": None,
        "max_jobs": 50,
        "wait_for_review": False,
        "ask_a_person": False,
    }
    valid = ParamsDict(params)
    valid["job_ids"] = ["a009-job_1"]
    for name, bad in [
        ("job_ids", ["../etc"]),
        ("job_ids", ["abc\n"]),  # '$' alone would accept a trailing newline
        ("job_ids", ["a|b"]),
        ("job_ids", "abc"),
        ("max_jobs", 0),
        ("max_jobs", "ten"),
        ("dry_run", "yes"),
    ]:
        candidate = ParamsDict(params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
            candidate[name] = bad
