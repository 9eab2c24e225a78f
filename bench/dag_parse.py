"""DAG parse cost: filling a ``DagBag`` from ``dags/`` vs from an empty DAG with the same imports.

The baseline is a folder holding one DAG file that imports what ``dags/`` imports from
``airflow.sdk`` (``CronTriggerTimetable, Param, TriggerRule, dag, task``) and defines one empty DAG.

* **cold** (what the DAG processor pays): each repetition is a fresh Python process that first
  imports ``airflow.sdk`` and ``DagBag`` (the processor has those loaded already), then times one
  ``DagBag`` fill. This includes importing the provider's operators and sensor.
* **warm**: repeated ``DagBag`` fills in one process (modules the DAG file imports are cached;
  the DAG file itself is executed again each time).

Both folders alternate; medians of ``--runs``. Every parse, cold and warm, runs **offline**:
``socket`` connect/``create_connection``/``getaddrinfo``, ``Variable.get`` and
``BaseHook.get_connection`` are replaced by functions that record the call and raise, so a DAG
file that touched the network, a Variable or a Connection at parse time would show an import
error and a non-zero "lookups" count.

Goal (issue #6): <= 100 ms more than the empty DAG, no network/Variable/Connection at parse time.

    .venv/bin/python bench/dag_parse.py [--runs 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench as b

DAGS = b.PROJECT / "dags"
EMPTY_DAG = '''"""Baseline: the airflow.sdk imports of dags/ and one empty DAG."""
import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, dag, task


@dag(
    dag_id="empty_baseline",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    params={"x": Param(1, type="integer")},
)
def empty_baseline():
    @task(trigger_rule=TriggerRule.ALL_DONE)
    def noop():
        return None

    noop()


empty_baseline()
'''

# Runs in the child (cold) and in this process (warm): make parsing offline, count attempts.
OFFLINE = """
import socket
from airflow.sdk import BaseHook, Variable

LOOKUPS = []

def _forbidden(what):
    def refuse(*args, **kwargs):
        LOOKUPS.append(what)
        raise RuntimeError(f"{what} at DAG parse time")
    return refuse

socket.socket.connect = _forbidden("socket.connect")
socket.socket.connect_ex = _forbidden("socket.connect_ex")
socket.create_connection = _forbidden("socket.create_connection")
socket.getaddrinfo = _forbidden("socket.getaddrinfo")
Variable.get = staticmethod(_forbidden("Variable.get"))
BaseHook.get_connection = classmethod(_forbidden("BaseHook.get_connection"))
"""

COLD_CHILD = (
    "import json, sys, time\n"
    "import airflow.sdk\n"
    "from airflow.dag_processing.dagbag import DagBag\n" + OFFLINE + "started = time.perf_counter()\n"
    "bag = DagBag(dag_folder=sys.argv[1])\n"
    "seconds = time.perf_counter() - started\n"
    "print(json.dumps({'seconds': seconds, 'dags': sorted(bag.dags), 'errors': list(bag.import_errors.values()),"
    " 'lookups': LOOKUPS}))\n"
)


def cold_parse(folder: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", COLD_CHILD, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(result: dict, folder: Path) -> None:
    if result["errors"] or result["lookups"] or not result["dags"]:
        raise SystemExit(f"parsing {folder} offline failed: {result}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 repetitions (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 2
    print(f"machine: {b.machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as name:
        tmp = Path(name)
        baseline = tmp / "baseline"
        baseline.mkdir()
        (baseline / "empty_baseline.py").write_text(EMPTY_DAG)
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
        folders = {"empty DAG": baseline, "dags/": DAGS}

        cold: dict[str, list[float]] = {label: [] for label in folders}
        for folder in folders.values() if not args.quick else ():  # warm-up: .pyc files, page cache
            check(cold_parse(folder, env), folder)
        for _ in range(args.runs):
            for label, folder in folders.items():
                result = cold_parse(folder, env)
                check(result, folder)
                cold[label].append(result["seconds"])

        os.environ.update(env)
        from airflow.dag_processing.dagbag import DagBag

        logging.getLogger("airflow.dag_processing").setLevel(logging.WARNING)  # "Filling up the DagBag"
        namespace: dict = {}
        exec(OFFLINE, namespace)  # noqa: S102 - our own fixed code: the offline patches
        warm: dict[str, list[float]] = {label: [] for label in folders}
        for run in range(args.runs + 1):
            for label, folder in folders.items():
                started = time.perf_counter()
                bag = DagBag(dag_folder=str(folder))
                seconds = time.perf_counter() - started
                check(
                    {"errors": list(bag.import_errors.values()), "lookups": namespace["LOOKUPS"], "dags": bag.dags},
                    folder,
                )
                if run:  # the first round imports the provider modules: that is the cold figure
                    warm[label].append(seconds)

    print(f"\nDagBag fill, medians of {args.runs} runs, parsed with the network, Variables and Connections disabled")
    print(f"  {'':<10} {'empty DAG':>10} {'dags/':>10} {'extra':>10}")
    extras = {}
    for mode, figures in (("cold", cold), ("warm", warm)):
        empty, ours = b.median(figures["empty DAG"]) * 1000, b.median(figures["dags/"]) * 1000
        extras[mode] = ours - empty
        print(f"  {mode:<10} {empty:8.1f}ms {ours:8.1f}ms {ours - empty:+8.1f}ms  (ratio {ours / empty:.2f})")
    print("  lookups at parse time (network, Variable, Connection): 0; import errors: 0")
    print(f"  goal <= 100 ms more than the empty DAG (cold): {b.verdict(extras['cold'] <= 100)}")
    print(f"\ndag_parse: all goals {b.verdict(extras['cold'] <= 100)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
