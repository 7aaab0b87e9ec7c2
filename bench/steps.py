"""Per-step and whole-run durations of the latest run, read from a DAGSTER_HOME's event log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance
from dagster._core.instance.ref import InstanceRef

TIMED_EVENTS = {
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
}


@dataclass(frozen=True)
class RunTiming:
    run_id: str
    run_seconds: float  # RUN_START -> RUN_SUCCESS
    step_seconds: dict[str, float]  # STEP_START -> STEP_SUCCESS, in start order


def latest_run_timing(dagster_home: Path) -> RunTiming:
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))
    try:
        run = instance.get_runs(limit=1)[0]
        started: dict[str, float] = {}
        finished: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id, of_type=TIMED_EVENTS):
            key = entry.step_key or "run"
            is_start = entry.dagster_event_type in (DagsterEventType.RUN_START, DagsterEventType.STEP_START)
            (started if is_start else finished)[key] = entry.timestamp
    finally:
        instance.dispose()
    steps = {key: finished[key] - started[key] for key in sorted(started, key=started.get) if key != "run"}
    return RunTiming(run.run_id, finished["run"] - started["run"], steps)
