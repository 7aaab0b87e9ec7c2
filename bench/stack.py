"""The real local stack in the cluster's topology, and the two dev-loop latencies measured on it.

Processes: `dagster code-server start` (own empty DAGSTER_HOME, like the user-code pod), `dagster-webserver`
and `dagster-daemon` (instance with the project's dagster.yaml: QueuedRunCoordinator + DefaultRunLauncher),
workspace = one grpc_server entry. The code server serves a temporary copy of dagster_project so the edit
loop can change files without touching the checkout.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef
from dagster_graphql import DagsterGraphQLClient

from bench.generate import write_bronze

JOB = "medallion_job"
STARTUP_TIMEOUT = 180.0
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
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
ASSET_DESCRIPTIONS = "{ assetNodes { assetKey { path } description } }"
LOCATION_STATUS = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
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


class LocalStack:
    def __init__(self, project_dir: Path, root: Path, env: dict[str, str]) -> None:
        self.location = project_names(project_dir)["CODE_LOCATION"]
        self.root = root
        self.app = root / "app"
        self.instance_home = root / "instance"
        self.code_home = root / "code-server-home"  # empty, as in the user-code pod
        self.data = root / "data"
        self.logs = root / "logs"
        self.env = env
        self.web_port, self.code_port = _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.processes: list[subprocess.Popen] = []
        self.sample_note = self._prepare(project_dir)
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.web_port)

    def _prepare(self, project_dir: Path) -> str:
        shutil.copytree(
            project_dir / "dagster_project",
            self.app / "dagster_project",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        for directory in (self.instance_home, self.code_home, self.logs, self.data / "bronze"):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(project_dir / "dagster_home" / "dagster.yaml", self.instance_home / "dagster.yaml")
        (self.root / "workspace.yaml").write_text(
            f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {self.code_port}\n"
            f"      location_name: {self.location}\n"
        )
        sample = project_dir / "data" / "bronze" / "bronze_data.csv"
        if sample.exists():
            shutil.copy(sample, self.data / "bronze" / "bronze_data.csv")
            with sample.open(encoding="utf-8-sig", newline="") as stream:
                return f"sample data, data/bronze/bronze_data.csv ({sum(1 for _ in csv.reader(stream)) - 1} rows)"
        write_bronze(self.data / "bronze" / "bronze_data.csv", 100)
        return "no data/bronze/bronze_data.csv on this branch: 100 generated rows instead"

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        code_env = {**self.env, "PYTHONPATH": str(self.app), "DAGSTER_HOME": str(self.code_home)}
        code_env["DATA_ROOT"] = str(self.data)
        instance_env = {**self.env, "DAGSTER_HOME": str(self.instance_home)}
        workspace = str(self.root / "workspace.yaml")
        code_server = [str(bin_dir / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(self.code_port)]
        code_server += ["-m", "dagster_project", "--location-name", self.location]
        self._spawn("code-server", code_server, code_env, self.app)
        webserver = [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.web_port), "-w", workspace]
        self._spawn("webserver", webserver, instance_env, self.root)
        self._wait_for_location()
        # Only now: started together on a fresh SQLite home, webserver and daemon race to create the schema
        # and the loser dies with "table alembic_version already exists".
        self._spawn("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], instance_env, self.root)

    def _spawn(self, name: str, command: list[str], env: dict[str, str], cwd: Path) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        # Own session: stop() can signal the process group, which includes the code server's child server.
        self.processes.append(
            subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def graphql(self, query: str) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query}, timeout=30)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    def _wait_for_location(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        error = "no answer from the webserver"
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[0]} exited early; see {self.logs}")
            try:
                entries = self.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
            except (requests.RequestException, RuntimeError, KeyError):
                entries = []
            for entry in entries:
                loaded = entry["locationOrLoadError"] or {}
                if entry["name"] == self.location and loaded.get("__typename") == "RepositoryLocation":
                    return
                if loaded.get("__typename") == "PythonError":
                    # Usually the webserver asked before the code server listened; it does not retry alone.
                    error = loaded["message"]
                    self.client.reload_repository_location(self.location)
            time.sleep(0.2)
        raise TimeoutError(
            f"code location {self.location} not loaded after {STARTUP_TIMEOUT}s: {error}; see {self.logs}"
        )

    def submit_to_success(self, run_config: dict | None) -> RunLatency:
        started = time.perf_counter()
        run_id = self.client.submit_job_execution(JOB, repository_location_name=self.location, run_config=run_config)
        deadline = time.monotonic() + RUN_TIMEOUT
        while (status := self.client.get_run_status(run_id)) not in FINISHED:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status} after {RUN_TIMEOUT}s")
            time.sleep(POLL_SECONDS)
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
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(self.instance_home)))
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
            self.client.reload_repository_location(self.location)
        else:
            subprocess.run(
                reload_command,
                env={**self.env, "PYTHONPATH": str(self.app)},
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
    stack = LocalStack(project_dir, root, env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def project_names(project_dir: Path) -> dict[str, str]:
    """project.env, the one source of shared names (KEY=value lines, # comments)."""
    lines = (project_dir / "project.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
