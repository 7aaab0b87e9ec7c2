"""The two dev-loop latencies, measured on the real local stack of tests/support/stack.py: a code server with its own
empty DAGSTER_HOME (like the user-code pod), webserver and daemon sharing the project's instance config
(QueuedRunCoordinator, DefaultRunLauncher). The code server serves a temporary copy of dagster_project, so
the edit loop changes files without touching the checkout.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from dagster_project.control.refresh import source_digest
from tests.support.stack import LocalStack, copy_sample_bronze

JOB = "medallion_job"
RUN_TIMEOUT = 300.0
POLL_SECONDS = 0.05
# Where a queued run's time goes: waiting for the daemon's next dequeue, starting the run worker process
# (DefaultRunLauncher: a new Python process in the code server), then executing the steps.
PHASES = {
    "queued (created -> RUN_STARTING, the daemon's dequeue)": ("created", DagsterEventType.RUN_STARTING),
    "run worker start (RUN_STARTING -> RUN_START)": (DagsterEventType.RUN_STARTING, DagsterEventType.RUN_START),
    "execution (RUN_START -> RUN_SUCCESS)": (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS),
    "server side total (created -> RUN_SUCCESS)": ("created", DagsterEventType.RUN_SUCCESS),
}
ASSET_DESCRIPTIONS = "{ assetNodes { assetKey { path } description } }"
GOLD_STALE_STATUS = '{ assetNodes(assetKeys: [{path: ["gold_region_sales"]}]) { staleStatus } }'
# A code change to gold (an assignment, not a comment: comments leave the code version alone), so each save makes
# gold stale and auto-refresh has work to do.
GOLD_SAVE = '\n_bench_save = "{marker}"\n'
GOLD_MODULE = "defs/assets/gold.py"

# Appended to the asset module: re-describe every asset it defines, a change visible through GraphQL
# whichever way repository.py collects the assets (by name or by module scan).
EDIT = """
# bench edit {marker}
import dagster as _bench_dagster

for _bench_name, _bench_value in list(globals().items()):
    if isinstance(_bench_value, _bench_dagster.AssetsDefinition):
        globals()[_bench_name] = _bench_value.map_asset_specs(
            lambda spec: spec.replace_attributes(description=f"{{spec.description or ''}} {marker}")
        )
"""


@dataclass(frozen=True)
class RunLatency:
    client_seconds: float  # submit mutation sent -> SUCCESS observed by polling GraphQL
    phases: dict[str, float]  # from the run's record and event log timestamps, see PHASES


class DevLoopProbe:
    """Measures submit-to-success and edit-to-new-code on a started LocalStack."""

    def __init__(self, stack: LocalStack, package_dir: Path, sample_note: str) -> None:
        self.stack = stack
        self.app = package_dir.parent
        self.url = stack.url
        self.server = stack.webserver()
        self.sample_note = sample_note

    def graphql(self, query: str) -> dict:
        return self.server.graphql(query, {})

    def submit_to_success(self, run_config: dict | None) -> RunLatency:
        started = time.perf_counter()
        run_id = self.server.client.submit_job_execution(
            JOB, repository_location_name=self.server.location, repository_name="__repository__", run_config=run_config
        )
        status = self.server.wait(run_id, timeout=RUN_TIMEOUT, poll=POLL_SECONDS)
        client_seconds = time.perf_counter() - started
        if status != DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"run {run_id} ended {status}:\n{self._failures(run_id)}")
        return RunLatency(client_seconds, self._phases(run_id))

    def _phases(self, run_id: str) -> dict[str, float]:
        with self._instance() as instance:
            created = instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
            kinds = {kind for bounds in PHASES.values() for kind in bounds if kind != "created"}
            stamps = {entry.dagster_event_type: entry.timestamp for entry in instance.all_logs(run_id, of_type=kinds)}
        stamps["created"] = created
        return {phase: stamps[end] - stamps[start] for phase, (start, end) in PHASES.items()}

    def _failures(self, run_id: str) -> str:
        """Failure events of a run, since the stack's temporary logs vanish with it."""
        with self._instance() as instance:
            events = instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
        return "\n".join(f"{event.message} {event.dagster_event.event_specific_data}"[:3000] for event in events)

    @contextmanager
    def _instance(self):
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(self.stack.instance_home)))
        try:
            yield instance
        finally:
            instance.dispose()

    def edit_to_new_code(self, asset_file: str, marker: str, reload_command: list[str] | None) -> float:
        """Append an edit to the served copy, reload (mutation or `reload_command`), wait until it shows."""
        path = self.app / "dagster_project" / asset_file
        original = self._original(path)
        started = time.perf_counter()
        path.write_text(original + EDIT.format(marker=marker))
        if reload_command is None:
            self.server.client.reload_repository_location(self.server.location)
        else:
            subprocess.run(
                reload_command,
                env={**self.stack.environment(), "PYTHONPATH": str(self.app)},
                cwd=self.app,
                check=True,
                capture_output=True,
            )
        deadline = time.monotonic() + RUN_TIMEOUT
        while not self._described_with(marker):
            if time.monotonic() > deadline:
                raise TimeoutError(f"edit {marker} not visible after {RUN_TIMEOUT}s")
            time.sleep(POLL_SECONDS)
        return time.perf_counter() - started

    def save_to_fresh_gold(self, marker: str) -> float:
        """What Tilt does after a save in inprocess mode, from the save to gold fresh again: the live update's
        `control reload` and the auto-refresh resource's `control refresh --source-digest` start together (the
        refresh waits until the served code is the saved code, then launches the stale assets, and exits); the
        clock stops when polling sees that run succeed, as for submit-to-success."""
        path = self.app / "dagster_project" / GOLD_MODULE
        original = self._original(path)
        control = [sys.executable, "-m", "dagster_project.control", "--url", self.url]
        env = {**self.stack.environment(), "PYTHONPATH": str(self.app)}
        started = time.perf_counter()
        path.write_text(original + GOLD_SAVE.format(marker=marker))
        # tilt/refresh.sh's digest of the laptop's files, here the same files
        digest = source_digest(self.app / "dagster_project")
        refresh = subprocess.Popen([*control, "refresh", "--source-digest", digest], cwd=self.app, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        subprocess.run([*control, "reload"], cwd=self.app, env=env, check=True, capture_output=True)
        output, _ = refresh.communicate(timeout=RUN_TIMEOUT)
        if refresh.returncode != 0 or "refreshing gold_region_sales" not in output:
            raise RuntimeError(f"refresh after save {marker} did not launch gold:\n{output[-3000:]}")
        run_id = re.search(r"^run (\S+):", output, re.MULTILINE).group(1)  # control prints "run <id>: <url>"
        status = self.server.wait(run_id, timeout=RUN_TIMEOUT, poll=POLL_SECONDS)
        seconds = time.perf_counter() - started
        if status != DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"refresh run {run_id} of save {marker} ended {status}:\n{self._failures(run_id)}")
        (node,) = self.graphql(GOLD_STALE_STATUS)["assetNodes"]
        if node["staleStatus"] != "FRESH":
            raise RuntimeError(f"gold is {node['staleStatus']} after the refresh of save {marker}:\n{output[-3000:]}")
        return seconds

    def _original(self, path: Path) -> str:
        saved = path.with_suffix(".py.orig")
        if not saved.exists():
            shutil.copy(path, saved)
        return saved.read_text()

    def _described_with(self, marker: str) -> bool:
        nodes = self.graphql(ASSET_DESCRIPTIONS)["assetNodes"]
        return any(marker in (node["description"] or "") for node in nodes)


@contextmanager
def running_stack(project_dir: Path, root: Path, env: dict[str, str]):
    """A LocalStack serving a scratch copy of project_dir's package over the project's sample data."""
    package_dir = root / "app" / "dagster_project"
    shutil.copytree(project_dir / "dagster_project", package_dir, ignore=shutil.ignore_patterns("__pycache__"))
    bronze = copy_sample_bronze(root / "data")
    with bronze.open(encoding="utf-8-sig", newline="") as stream:
        note = f"sample data, data/bronze/bronze_data.csv ({sum(1 for _ in csv.reader(stream)) - 1} rows)"
    stack = LocalStack(workdir=root / "stack", data_root=root / "data", code_dir=package_dir.parent, base_env=env)
    try:
        yield DevLoopProbe(stack.start(), package_dir, note)
    finally:
        stack.stop()
