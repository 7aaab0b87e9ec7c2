"""Releases layers held by dead runs: a run whose worker process is gone is marked failed within seconds
(docs/failure-modes.md#faults-that-kill-pods)."""

from __future__ import annotations

from typing import NamedTuple

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultRunLauncher,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

CHECK_INTERVAL_SECONDS = 1
# The worker's process exists before it logs the event; a process created later than this after the event is
# another process that reuses the pid (a restarted container hands out the same low pids again).
PID_REUSE_TOLERANCE_SECONDS = 1.0
# The worker's pid is in one of its first engine events; this bounds the events read per run and tick.
FIRST_ENGINE_EVENTS = 20


class WorkerProcess(NamedTuple):
    pid: int
    announced_at: float


def worker_process(instance: DagsterInstance, run_id: str) -> WorkerProcess | None:
    """The process that executes the run, from the first engine event that names a pid."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=FIRST_ENGINE_EVENTS
    ).records
    for record in records:
        metadata = record.event_log_entry.dagster_event.engine_event_data.metadata
        if "pid" in metadata:
            return WorkerProcess(int(metadata["pid"].value), record.event_log_entry.timestamp)
    return None


def is_alive(worker: WorkerProcess) -> bool:
    import psutil  # only when a run is in progress: the sensor ticks every few seconds

    try:
        process = psutil.Process(worker.pid)
        return (
            process.status() != psutil.STATUS_ZOMBIE
            and process.create_time() <= worker.announced_at + PID_REUSE_TOLERANCE_SECONDS
        )
    except psutil.NoSuchProcess:
        return False


def gone_message(run: DagsterRun, worker: WorkerProcess) -> str:
    return (
        f"Run worker gone: process {worker.pid}, which executed this run, no longer exists. The code server was "
        "killed or restarted while the run was in progress (code-server pod replaced or OOM-killed, container "
        "killed, node restarted). Files the run was writing were not replaced: every layer keeps its previous "
        f"complete file. The run's layer is free again; re-execute run {run.run_id} to retry."
    )


def release_dead_runs_in(instance: DagsterInstance, location_name: str | None) -> list[str]:
    """Fail this code location's STARTED runs whose worker is gone and free their pool slots; their ids."""
    # Only DefaultRunLauncher offers no worker health check; run monitoring checks the others (K8sRunLauncher's
    # Jobs).
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return []
    released = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        run = record.dagster_run
        origin = run.remote_job_origin
        if location_name and (origin is None or origin.location_name != location_name):
            continue
        worker = worker_process(instance, run.run_id)
        if worker is None or is_alive(worker):
            continue
        # The run may have ended between the query and the process check: only a run still STARTED is dead.
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != DagsterRunStatus.STARTED:
            continue
        instance.report_run_failed(current, gone_message(current, worker))
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


# Runs in the code server, beside the run workers, so it can see their processes: when the whole code server
# dies, nobody else reports the end of the runs it executed.
@sensor(
    name="release_dead_runs",
    minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Marks a run failed when its worker process died with the code server (pod replaced, OOM kill), so its "
        "layer is released. Keep it running: without it such a run holds its layer until terminated by hand."
    ),
)
def release_dead_runs(context: SensorEvaluationContext):
    origin = context.code_location_origin
    released = release_dead_runs_in(context.instance, origin.location_name if origin else None)
    for run_id in released:
        context.log.warning(f"run {run_id}: worker process gone, marked failed and its layer released")
    return SkipReason(f"released dead run(s) {', '.join(released)}" if released else "no dead run")
