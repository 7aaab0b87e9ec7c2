"""A real local Dagster deployment in the cluster's topology: a code server with an empty DAGSTER_HOME of its own,
as the chart's user-code pod, and a webserver and daemon sharing an instance (DefaultRunLauncher, the queue and
pools of dagster_home/dagster.yaml). For end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml
from dagster import DagsterEventType, DagsterInstance
from dagster._core.instance.ref import InstanceRef

from dagster_project.control.client import DEFAULT_LOCATION as LOCATION
from dagster_project.control.client import Webserver
from tests.support.project import BIN, REPO_ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class LocalStack:
    workdir: Path
    data_root: Path
    code_dir: Path = REPO_ROOT
    extra_instance_config: dict = field(default_factory=dict)
    base_env: dict[str, str] | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self):
        self.instance_home = self.workdir / "instance_home"
        self.code_server_home = self.workdir / "code_server_home"
        self.logs = self.workdir / "logs"
        for directory in (self.instance_home, self.code_server_home, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self.grpc_port, self.web_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"

    def write_instance(self) -> None:
        config = yaml.safe_load((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())
        config["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
        config.update(self.extra_instance_config)
        (self.instance_home / "dagster.yaml").write_text(yaml.safe_dump(config))
        workspace = {
            "load_from": [{"grpc_server": {"host": "127.0.0.1", "port": self.grpc_port, "location_name": LOCATION}}]
        }
        (self.workdir / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        # Create the SQLite schema once up front; webserver and daemon racing to create it crash one another.
        DagsterInstance.from_ref(InstanceRef.from_dir(str(self.instance_home))).dispose()

    def start(self) -> LocalStack:
        self.write_instance()
        self.start_code_server()
        self._instance_env = {**self.environment(), "DAGSTER_HOME": str(self.instance_home)}
        self._spawn(
            "webserver",
            [BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(self.web_port),
             "-w", self.workdir / "workspace.yaml"],
            self._instance_env,
        )  # fmt: skip
        self.start_daemon()
        self.wait_until_loaded()
        return self

    def start_code_server(self) -> None:
        """The code server on its fixed port, as the chart's Service keeps one address across pod restarts."""
        self._spawn(
            "code-server",
            [BIN / "dagster", "code-server", "start", "-h", "127.0.0.1", "-p", str(self.grpc_port),
             "-m", "dagster_project.definitions", "--location-name", LOCATION],
            {**self.environment(), "DAGSTER_HOME": str(self.code_server_home)},
            cwd=self.code_dir,
        )  # fmt: skip

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal a process's whole group, as a pod's containers die together, and reap it."""
        process = self.processes.pop(name)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def wait_until_loaded(self, timeout: float = 120) -> None:
        wait_for(self._location_loaded, timeout, f"code location {LOCATION} to load in the webserver")

    def start_daemon(self) -> None:
        self._spawn(
            "daemon", [BIN / "dagster-daemon", "run", "-w", self.workdir / "workspace.yaml"], self._instance_env
        )

    def stop_daemon(self) -> None:
        """Without the daemon, submitted runs wait in the queue: tests use it to queue runs all at once."""
        self._terminate([self.processes.pop("daemon")])

    def environment(self) -> dict[str, str]:
        """What every process of the stack runs with: the code under test and the data root."""
        inherited = os.environ if self.base_env is None else self.base_env
        return {**inherited, "PYTHONPATH": str(self.code_dir), "DATA_ROOT": str(self.data_root)}

    def webserver(self) -> Webserver:
        return Webserver(self.url, LOCATION)

    def stop(self) -> None:
        self._terminate(list(reversed(self.processes.values())))
        self.processes.clear()

    @staticmethod
    def _terminate(processes: list[subprocess.Popen]) -> None:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def _spawn(self, name: str, command: list, env: dict, cwd: Path | None = None) -> None:
        # Appended: a restarted process keeps the log of the one before, as `kubectl logs --previous` would.
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [str(part) for part in command],
            env=env,
            cwd=cwd or self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _location_loaded(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_text(name)[-3000:]}")
        query = (
            "{ workspaceOrError { ... on Workspace {"
            " locationEntries { name loadStatus locationOrLoadError { __typename } } } } }"
        )
        try:
            response = requests.post(f"{self.url}/graphql", json={"query": query}, timeout=5)
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, KeyError, TypeError, ValueError):
            return False
        return any(
            entry["name"] == LOCATION
            and entry["loadStatus"] == "LOADED"
            and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            for entry in entries
        )


def copy_sample_bronze(data_root: Path) -> Path:
    target = data_root / "bronze" / "bronze_data.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "data" / "bronze" / "bronze_data.csv", target)
    return target


def stack_serving_a_copy(workdir: Path) -> LocalStack:
    """A stack (not started) whose code server serves a copy of the package under workdir/app, as the pod serves
    APP_DIR, over the sample bronze: tests edit that copy, never the repository."""
    package = workdir / "app" / "dagster_project"
    shutil.copytree(REPO_ROOT / "dagster_project", package, ignore=shutil.ignore_patterns("__pycache__"))
    copy_sample_bronze(workdir / "data")
    return LocalStack(workdir=workdir / "stack", data_root=workdir / "data", code_dir=package.parent)


def instance_of(stack: LocalStack) -> DagsterInstance:
    """The instance the stack's webserver and daemon share, read directly."""
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(stack.instance_home)))


def step_windows(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (STEP_START, STEP_SUCCESS) timestamps of one run."""
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        target = starts if entry.dagster_event.event_type == DagsterEventType.STEP_START else ends
        target[entry.step_key] = entry.timestamp
    return {step: (starts[step], ends[step]) for step in starts if step in ends}


def overlapping(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
