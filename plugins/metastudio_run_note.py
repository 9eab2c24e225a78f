"""Airflow plugin: when a remediation run ends, its Markdown digest becomes the DAG run's note.

The UI renders a run's note as Markdown at the top of the run's page. In Airflow 3.3 a task
cannot set its own run's note (the Task Execution API has no such call), so the report task
pushes the digest as an XCom (``metastudio_remediation.report_markdown.RUN_NOTE_XCOM_KEY``) and
this listener, called by the scheduler in the session that marks the run finished, copies it
into the note. A note a person already wrote is never replaced.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _set_note_from_report(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _set_note_from_report(dag_run)


def _set_note_from_report(dag_run: Any) -> None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from metastudio_remediation.report_markdown import NOTE_LIMIT, RUN_NOTE_XCOM_KEY

    session = object_session(dag_run)
    if session is None or dag_run.note:
        return
    row = session.scalars(
        select(XComModel).where(XComModel.dag_run_id == dag_run.id, XComModel.key == RUN_NOTE_XCOM_KEY).limit(1)
    ).first()
    if row is None:
        return
    note = XComModel.deserialize_value(row)
    if isinstance(note, str) and note:
        dag_run.note = note[:NOTE_LIMIT]
        log.info("Set the report digest as the note of %s", dag_run.run_id)


class MetaStudioRunNotePlugin(AirflowPlugin):
    name = "metastudio_run_note"
    listeners = [sys.modules[__name__]]  # noqa: RUF012 - Airflow reads a plain class attribute
