"""Faults that kill pods, on the real local stack (code server, webserver, daemon as the chart runs them): no run
stays STARTED holding its layer, the next run of that layer starts by itself, and every output file is either
the one from before the fault or a complete new one equal to what an independent reference computes.

A 1M-row messy bronze (bench.generate) makes the silver step last seconds, long enough to kill it in the middle;
the expected outputs come from the DuckDB reference (bench.reference_duckdb), not from the code under test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from unittest import mock

import pytest
from dagster import DagsterRunStatus

from tests.support.container_stack import PostgresCluster, postgres_bindir
from tests.support.project import BIN
from tests.support.runs import OUTPUTS, RUNS_IN_PROGRESS, layer_files
from tests.support.stack import LocalStack, copy_sample_bronze, instance_of, wait_for
from tests.support.tools import require_tool

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

# The bound from the moment the worker dies (or the code server is back) to the run's FAILURE.
DETECTION_SECONDS = 20


def started_stack(workdir: Path, **options) -> LocalStack:
    require_tool("dagster-webserver", shutil.which("dagster-webserver", path=str(BIN)) is not None,
                 "dagster-webserver is not installed (make install)")  # fmt: skip
    data_root = workdir / "data"
    copy_sample_bronze(data_root)
    return LocalStack(workdir=workdir, data_root=data_root, **options).start()


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    stack = started_stack(tmp_path_factory.mktemp("faults"))
    try:
        yield stack
    finally:
        stack.stop()


class LongRun:
    """medallion_job on the big bronze, caught in its silver step, after a run on the sample set the scene."""

    def __init__(self, stack: LocalStack, big_bronze: tuple[Path, dict], caught_in: str = "silver"):
        self.stack, self.server = stack, stack.webserver()
        self.bronze, self.expected = big_bronze
        copy_sample_bronze(stack.data_root)
        self.succeed("medallion_job")
        self.before = layer_files(stack.data_root)
        shutil.copyfile(self.bronze, stack.data_root / "bronze" / "bronze_data.csv")
        self.run_id = self.server.submit("medallion_job")
        if caught_in == "silver":
            wait_for(self.in_silver, 180, "the silver step to start cleaning the big bronze", poll=0.1)
        else:
            wait_for(lambda: self.status() == DagsterRunStatus.STARTED, 180, "the run to start", poll=0.1)

    def in_silver(self) -> bool:
        messages = [(event["stepKey"], event["message"]) for event in self.server.events(self.run_id)]
        return any(step == "silver_orders" and text.startswith("cleaning ") for step, text in messages)

    def succeed(self, job: str) -> str:
        run_id = self.server.submit(job)
        status = self.server.wait(run_id, timeout=300)
        assert status == DagsterRunStatus.SUCCESS, self.report(run_id)
        return run_id

    def status(self) -> DagsterRunStatus:
        return self.server.client.get_run_status(self.run_id)

    def wait_for_end(self, timeout: float) -> tuple[DagsterRunStatus, float]:
        """The run's terminal status and when it was seen (monotonic clock)."""
        status = self.server.wait(self.run_id, timeout=timeout, poll=0.25)
        return status, time.monotonic()

    def failure_message(self) -> str:
        errors = [e["message"] for e in self.server.events(self.run_id) if e["level"] == "ERROR"]
        return "\n".join(errors)

    def report(self, run_id: str) -> str:
        events = [f"{e['level']} {e['stepKey']}: {e['message'][:300]}" for e in self.server.events(run_id)]
        return "\n".join([*events[-12:], "--- code server ---", self.stack.log_text("code-server")[-3000:]])

    def check_files_after_fault(self) -> None:
        """Right after the fault every file is the previous one or a complete new one; after a new run, exactly
        what the reference computes."""
        after_fault = layer_files(self.stack.data_root)
        self.succeed("medallion_job")
        final = layer_files(self.stack.data_root)
        assert final == self.expected, "the run after the fault did not write what the reference computes"
        for name in OUTPUTS:
            assert after_fault[name] in (self.before[name], final[name]), f"{name} was left half-written"
        # Run retries re-execute the failed run too: a temporary file of that live retry is not a leftover.
        wait_for(self.no_run_in_progress, 600, "every run (the automatic retry included) to end")
        assert list(self.stack.data_root.rglob("*.tmp")) == [], "a temporary file was left behind"

    def no_run_in_progress(self) -> bool:
        return not self.server.graphql(RUNS_IN_PROGRESS, {})["runsOrError"]["results"]


def code_server_listening(stack: LocalStack) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", stack.grpc_port)) == 0


def kill_and_restart_code_server(run: LongRun, down_seconds: float) -> tuple[float, float]:
    """SIGKILL the code server's process group mid-run (OOM kill, forced pod deletion), start a fresh one on
    the same address after `down_seconds` (the new pod), and return when it died and when it listened again."""
    assert run.status() == DagsterRunStatus.STARTED
    killed_at = time.monotonic()
    run.stack.kill("code-server")
    time.sleep(down_seconds)
    assert run.status() == DagsterRunStatus.STARTED, "nothing can notice the dead worker while no code server runs"
    run.stack.start_code_server()
    wait_for(lambda: code_server_listening(run.stack), 120, "the new code server to listen", poll=0.1)
    return killed_at, time.monotonic()


def test_code_server_killed_mid_run_fails_the_run_and_frees_the_layer(fault_stack, big_bronze):
    run = LongRun(fault_stack, big_bronze)
    killed_at, back_at = kill_and_restart_code_server(run, down_seconds=5)
    # Submitted while the dead run still holds the silver pool: it must start by itself once the layer is freed.
    waiting = run.server.submit("bronze_to_silver_job")

    status, ended_at = run.wait_for_end(timeout=120)
    assert status == DagsterRunStatus.FAILURE
    assert ended_at - killed_at <= DETECTION_SECONDS, (
        f"failed {ended_at - killed_at:.1f}s after the kill ({ended_at - back_at:.1f}s after the restart)"
    )
    assert "Run worker gone" in run.failure_message()
    assert run.server.wait(waiting, timeout=300) == DagsterRunStatus.SUCCESS, run.report(waiting)
    print(f"code server SIGKILL, back after 5 s: FAILURE {ended_at - killed_at:.1f}s after the kill")
    run.check_files_after_fault()


def test_code_server_gone_for_a_minute_fails_the_run_soon_after_it_is_back(fault_stack, big_bronze):
    run = LongRun(fault_stack, big_bronze)
    _, back_at = kill_and_restart_code_server(run, down_seconds=60)
    status, ended_at = run.wait_for_end(timeout=120)
    assert status == DagsterRunStatus.FAILURE
    assert ended_at - back_at <= DETECTION_SECONDS, f"failed {ended_at - back_at:.1f}s after the code server was back"
    assert "Run worker gone" in run.failure_message()
    print(f"code server SIGKILL, back after 60 s: FAILURE {ended_at - back_at:.1f}s after it was back")
    run.check_files_after_fault()


def test_worker_killed_alone_fails_the_run_at_once(fault_stack, big_bronze):
    """The case Dagster handles itself (the code server sees its child die); kept so a change cannot break it."""
    import psutil

    run = LongRun(fault_stack, big_bronze)
    server_process = psutil.Process(fault_stack.processes["code-server"].pid)
    workers = [p for p in server_process.children(recursive=True) if "multiprocessing" in " ".join(p.cmdline())]
    assert workers, "no run worker process under the code server"
    killed_at = time.monotonic()
    for worker in workers:
        worker.kill()
    status, ended_at = run.wait_for_end(timeout=120)
    assert status == DagsterRunStatus.FAILURE
    assert ended_at - killed_at <= DETECTION_SECONDS
    run.check_files_after_fault()


def test_live_reload_during_a_long_run_keeps_the_run(fault_stack, big_bronze):
    """A reload starts a new code process; the old one finishes its runs. The guard must not take the running
    worker for a dead one, across several of its checks: the worker is paused (SIGSTOP, as a debugger or a
    starved node would) until two checks have seen it, so a fast machine cannot finish the run first."""
    import psutil

    run = LongRun(fault_stack, big_bronze, caught_in="start")
    server_process = psutil.Process(fault_stack.processes["code-server"].pid)
    workers = [p for p in server_process.children(recursive=True) if "multiprocessing" in " ".join(p.cmdline())]
    assert workers, "no run worker process under the code server"
    reloaded_at = time.time()
    run.server.reload()
    for worker in workers:
        worker.suspend()
    try:
        wait_for(lambda: guard_checks(fault_stack, reloaded_at + 1, time.time()) >= 2, 60,
                 "two guard checks while the worker is paused", poll=0.5)  # fmt: skip
        assert run.status() == DagsterRunStatus.STARTED, "the guard failed a paused but living worker"
    finally:
        for worker in workers:
            # A worker that has gone needs no resuming (the run's status below says whether that was its run).
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.resume()
    status, _ = run.wait_for_end(timeout=300)
    ended_at = time.time()
    assert status == DagsterRunStatus.SUCCESS, run.report(run.run_id)
    assert "Run worker gone" not in run.failure_message()
    checks = guard_checks(fault_stack, reloaded_at, ended_at)
    assert checks >= 2, f"only {checks} guard check(s) ran while the reloaded run was in progress"
    print(f"run survived a reload and {checks} guard checks during {ended_at - reloaded_at:.1f}s")
    assert layer_files(fault_stack.data_root) == run.expected


def guard_checks(stack: LocalStack, since: float, until: float) -> int:
    """Ticks of release_dead_runs the daemon logged between two times (its log's second resolution)."""
    from datetime import datetime

    count = 0
    for line in stack.log_text("daemon").splitlines():
        if "Sensor release_dead_runs skipped" in line:
            stamp = re.sub(r"\x1b\[[0-9;]*m", "", line).split(" - ", 1)[0]  # the daemon colors its log
            count += since - 1 <= datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S %z").timestamp() <= until + 1
    return count


def test_daemon_killed_while_runs_are_queued_runs_each_once(fault_stack, big_bronze):
    server = fault_stack.webserver()
    copy_sample_bronze(fault_stack.data_root)
    # silver exists before the queue forms: which queued run launches first is up to the daemon's threads, and a
    # silver_to_gold_job that goes before any silver was written fails for that reason alone.
    assert server.wait(server.submit("bronze_to_silver_job"), timeout=300) == DagsterRunStatus.SUCCESS
    fault_stack.kill("daemon")
    jobs = ["medallion_job", "bronze_to_silver_job", "silver_to_gold_job", "medallion_job"]
    run_ids = [server.submit(job) for job in jobs]
    assert {server.client.get_run_status(run_id) for run_id in run_ids} == {DagsterRunStatus.QUEUED}
    # Killed again in the middle of dequeuing, then started for good.
    fault_stack.start_daemon()
    wait_for(lambda: any(server.client.get_run_status(r) != DagsterRunStatus.QUEUED for r in run_ids), 60,
             "the daemon to dequeue a run", poll=0.05)  # fmt: skip
    fault_stack.kill("daemon")
    fault_stack.start_daemon()
    statuses = {run_id: server.wait(run_id, timeout=300) for run_id in run_ids}
    # A run the killed daemon had marked STARTING but not yet launched never started; run monitoring fails it
    # at the start timeout and run retries re-execute it once. Either way no run's work runs twice.
    for run_id, status in statuses.items():
        starts = execution_starts(server, run_id)
        if status == DagsterRunStatus.SUCCESS:
            assert starts == 1, f"run {run_id} started {starts} times"
            continue
        assert starts == 0, f"run {run_id} ended {status.value} after starting: {failure_messages(server, run_id)}"
        retry = retry_of(fault_stack, run_id)
        if retry is None:
            assert_retry_lost_to_the_known_race(fault_stack, server, run_id)
            continue
        assert server.wait(retry, timeout=300) == DagsterRunStatus.SUCCESS
        assert execution_starts(server, retry) == 1


# Where the retry daemon (EventLogConsumerDaemon) keeps how far it has read the run failures.
RETRY_CURSOR = "EVENT_LOG_CONSUMER_CURSOR-PIPELINE_FAILURE"


def assert_retry_lost_to_the_known_race(stack: LocalStack, server, run_id: str) -> None:
    """Dagster 1.12 stores a RUN_FAILURE event before it sets the run's status (DagsterInstance.handle_new_event):
    its retry daemon, ticking every 5 s as run monitoring does, can read the event in between, see a run still
    STARTING, decide no retry and move its cursor past the event for good (docs/failure-modes.md). Only that is
    accepted here: Dagster meant to retry the run, the retry daemon read the failure, and nothing failed."""
    from dagster import DagsterEventType

    with instance_of(stack) as instance:
        tags = instance.get_run_by_id(run_id).tags
        failures = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
            dagster_event_type=DagsterEventType.RUN_FAILURE)  # fmt: skip
        failure_ids = [storage_id for storage_id, entry in failures.items() if entry.run_id == run_id]
        cursor = instance.daemon_cursor_storage.get_cursor_values({RETRY_CURSOR}).get(RETRY_CURSOR)
    wanted = ("retry", "event_log_consumer", "error", "traceback", "exception")
    daemon_lines = [line[:400] for line in stack.log_text("daemon").splitlines()
                    if any(word in line.lower() for word in wanted)]  # fmt: skip
    events = [e["message"][:300] for e in server.events(run_id)]
    report = (f"run {run_id} never started and was not retried.\nits events: {events}\ntags: {dict(tags)}"
              f"\nfailure event ids: {failure_ids}, retry cursor: {cursor}"
              f"\ndaemon log: {daemon_lines[-30:]}")  # fmt: skip
    assert tags.get("dagster/failure_reason") == "START_TIMEOUT", report
    assert tags.get("dagster/will_retry") == "true", report
    assert len(failure_ids) == 1 and cursor is not None and int(cursor) >= failure_ids[0], report
    assert not any("Failed to retry" in text for text in events + daemon_lines), report
    print(f"run {run_id}: its retry lost to Dagster's event-before-status race (failure event {failure_ids[0]})")


def execution_starts(server, run_id: str) -> int:
    return sum(1 for e in server.events(run_id) if e["message"].startswith("Started execution of run"))


def failure_messages(server, run_id: str) -> list[str]:
    return [e["message"][:300] for e in server.events(run_id) if e["level"] == "ERROR"]


def retry_of(stack: LocalStack, run_id: str, timeout: float = 120) -> str | None:
    """The run that run retries launched for `run_id`, once the daemon has created it."""
    from dagster import RunsFilter

    with instance_of(stack) as instance:

        def child() -> str | None:
            runs = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run_id}))
            return runs[0].run_id if runs else None

        try:
            return wait_for(child, timeout, f"a retry of run {run_id}")
        except TimeoutError:
            return None


@pytest.fixture
def postgres_stack(tmp_path):
    bindir = postgres_bindir()
    require_tool("postgresql", bindir is not None, "PostgreSQL server binaries not found (apt-get install postgresql)")
    postgres = PostgresCluster(bindir).start()
    try:
        with mock.patch.dict(os.environ, {"DAGSTER_PG_PASSWORD": postgres.password}):
            stack = started_stack(tmp_path / "stack", extra_instance_config=postgres.instance_storage(
                scheme="postgresql+psycopg2"))  # fmt: skip
        try:
            yield stack, postgres
        finally:
            stack.stop()
    finally:
        postgres.stop()


def test_postgres_restarted_mid_run_never_leaves_the_run_stuck(postgres_stack, big_bronze):
    stack, postgres = postgres_stack
    run = LongRun(stack, big_bronze)
    postgres.restart()
    status, _ = run.wait_for_end(timeout=180)
    assert status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
    print(f"Postgres restarted mid-run: the run ended {status.value}")
    # The webserver keeps one pooled connection per storage (dagster-webserver's optimize_for_webserver); the
    # first request on each after the restart fails once, as a user reloading the page would see.
    wait_for(lambda: answers(run), 60, "the webserver to reach Postgres again")
    run.check_files_after_fault()


def answers(run: LongRun) -> bool:
    try:
        run.server.events(run.run_id)
        run.status()
        return True
    except Exception:  # any storage error: try again, as the user would
        return False
