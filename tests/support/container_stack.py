"""The user-code image run the way the Helm chart runs it, for tests/deploy/test_container.py.

- `PostgresCluster`: a private PostgreSQL cluster from Debian's server binaries on a free loopback port, as the
  chart's external database;
- `CodeServerContainer`: the image started with the chart's code-server args, user, environment and mounts
  (three Docker volumes at DATA_ROOT/<layer>, bronze read-only), on the host network;
- `ContainerStack`: host-side dagster-webserver and dagster-daemon whose instance has the shape of the chart's
  instance ConfigMap (Postgres storage, DefaultRunLauncher, QueuedRunCoordinator), loading the container as
  the gRPC code location.
"""

from __future__ import annotations

import glob
import io
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import yaml

from tests.support.project import BIN, REPO_ROOT
from tests.support.stack import LocalStack, free_port, wait_for
from tests.support.tools import require_tool

LAYERS = ("bronze", "silver", "gold")


def docker(*args: str, stdin: bytes | None = None, check: bool = True, timeout: float = 120) -> str:
    """Run the docker CLI; on failure the error carries its output."""
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout)
    output = (result.stdout + result.stderr).decode(errors="replace")
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{output[-4000:]}")
    return result.stdout.decode(errors="replace")


ENABLE_DOCKER = "bash .ci/setup-docker.sh installs docker.io and starts dockerd"


def docker_engine_problem() -> str | None:
    """Why the tests cannot use Docker here, or None when an engine answers."""
    if shutil.which("docker") is None:
        return f"no docker CLI on PATH ({ENABLE_DOCKER})"
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    return f"no Docker engine reachable ({ENABLE_DOCKER}): {probe.stderr.strip()[:300]}"


def python_image() -> str:
    """The base the images build on (PYTHON_IMAGE, else the Dockerfile's python:3.11-slim), once an engine answers
    and has it or can pull it; otherwise the test skips saying how to get one (fails where docker is required)."""
    problem = docker_engine_problem()
    require_tool("docker", problem is None, problem or "")
    base = os.environ.get("PYTHON_IMAGE", "python:3.11-slim")
    if subprocess.run(["docker", "image", "inspect", base], capture_output=True).returncode != 0:
        pulled = subprocess.run(["docker", "pull", base], capture_output=True, text=True, timeout=900)
        require_tool("docker", pulled.returncode == 0,
                     f"base image {base} is not here and cannot be pulled ({pulled.stderr.strip()[:200]}): "
                     "bash .ci/setup-docker.sh builds one from Debian, prints PYTHON_IMAGE to export")  # fmt: skip
    return base


def tar_of(files: dict[str, bytes], uid: int, gid: int) -> bytes:
    """An archive as Tilt's live_update streams it into `tar -x` in the container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(content), time.time(), 0o644, uid, gid
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def postgres_bindir() -> Path | None:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


@dataclass
class PostgresCluster:
    bindir: Path
    user: str = "dagster"
    database: str = "dagster"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    port: int = field(default_factory=free_port)

    def start(self) -> PostgresCluster:
        # Outside pytest's tmp tree: that is private to the test user, and the server may run as another.
        self.root = Path(tempfile.mkdtemp(prefix="medallion-pg-"))
        self.datadir = self.root / "data"
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root; Debian's package provides the postgres account.
            owner = pwd.getpwnam("postgres")
            for path in (self.root, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._as_owner(
            "initdb", "-D", self.datadir, "-U", self.user, f"--pwfile={password_file}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        try:
            self._as_owner("pg_ctl", *self._server_options(), "start")
            self._as_owner("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self) -> None:
        """Stop the server the way a Postgres pod restart does (fast: connections are cut), then start it."""
        self._as_owner("pg_ctl", *self._server_options(), "-m", "fast", "restart")

    def _server_options(self) -> list:
        # With its log in a file the server holds no pipe of ours open, so pg_ctl's output ends when it does.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        return ["-D", self.datadir, "-l", self.root / "server.log", "-w", "-o", options]

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._as_owner("pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def instance_storage(self, scheme: str, hostname: str = "127.0.0.1") -> dict:
        """run/event-log/schedule storage as the chart's instance ConfigMap writes them."""
        postgres_db = {
            "username": self.user,
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": hostname,
            "db_name": self.database,
            "port": self.port,
            "scheme": scheme,
        }
        storages = {
            "run_storage": ("dagster_postgres.run_storage", "PostgresRunStorage"),
            "event_log_storage": ("dagster_postgres.event_log", "PostgresEventLogStorage"),
            "schedule_storage": ("dagster_postgres.schedule_storage", "PostgresScheduleStorage"),
        }
        return {
            key: {"module": module, "class": cls, "config": {"postgres_db": postgres_db}}
            for key, (module, cls) in storages.items()
        }

    def _as_owner(self, tool: str, *args) -> None:
        command = [str(self.bindir / tool), *map(str, args)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log"
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}{server_log}")


@dataclass
class CodeServerContainer:
    """The image as the chart's user-code pod: same args, image user, env and mounts; host network."""

    image: str
    command: list[str]
    env: dict[str, str]
    data_root: str
    uid: int
    gid: int
    name: str = field(default_factory=lambda: f"medallion-pytest-{os.getpid()}-{secrets.token_hex(3)}")

    def __post_init__(self):
        self.volumes = {layer: f"{self.name}-{layer}" for layer in LAYERS}

    def start(self, bronze: bytes) -> CodeServerContainer:
        for volume in self.volumes.values():
            docker("volume", "create", volume)
        self.seed_bronze(bronze)
        bronze_dir = f"{self.data_root}/bronze"
        mounts = [
            "--mount", f"type=volume,source={self.volumes['bronze']},target={bronze_dir},readonly",
            "--mount", f"type=volume,source={self.volumes['silver']},target={self.data_root}/silver",
            "--mount", f"type=volume,source={self.volumes['gold']},target={self.data_root}/gold",
        ]  # fmt: skip
        env = [item for key, value in self.env.items() for item in ("-e", f"{key}={value}")]
        docker("run", "-d", "--name", self.name, "--network", "host", *env, *mounts, self.image, *self.command)
        return self

    def seed_bronze(self, bronze: bytes) -> None:
        """Write the bronze file as the chart-side seed job does: the only mount of bronze that is writable."""
        seed = tar_of({"bronze_data.csv": bronze}, self.uid, self.gid)
        bronze_dir = f"{self.data_root}/bronze"
        docker("run", "--rm", "-i", "-v", f"{self.volumes['bronze']}:{bronze_dir}", "--entrypoint", "tar",
               self.image, "-x", "-C", bronze_dir, "-f", "-", stdin=seed, timeout=300)  # fmt: skip

    def wait_until_serving(self, port: int, timeout: float = 180) -> None:
        """Like the pod's readiness gate: the webserver only gives up on an unreachable location after a
        few reconnect attempts, so it must not start before the code server listens."""

        def listening() -> bool:
            if not self.is_running():
                raise RuntimeError(f"container {self.name} exited:\n{self.logs()[-3000:]}")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        try:
            wait_for(listening, timeout, f"the code server in {self.name} to listen on {port}", poll=0.5)
        except TimeoutError as error:
            raise TimeoutError(f"{error}; container log:\n{self.logs()[-3000:]}") from None

    def exec(self, *command: str, stdin: bytes | None = None, check: bool = True) -> str:
        return docker("exec", "-i", self.name, *command, stdin=stdin, check=check)

    def exec_status(self, *command: str) -> tuple[int, str]:
        result = subprocess.run(["docker", "exec", self.name, *command], capture_output=True, text=True, timeout=60)
        return result.returncode, result.stdout + result.stderr

    def is_running(self) -> bool:
        return docker("inspect", "--format", "{{.State.Running}}", self.name, check=False).strip() == "true"

    def logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def process_uids(self) -> dict[str, str]:
        """Every process of the container (host view, real UID) -> its UID."""
        # docker top needs the pid column to map ps rows to the container.
        rows = [row.split(None, 2) for row in docker("top", self.name, "-eo", "pid,uid,args").splitlines()[1:]]
        return {f"{pid} {args}": uid for pid, uid, args in rows}

    def stop(self, grace_seconds: int = 30) -> tuple[float, int]:
        """Stop as the kubelet does (SIGTERM, then SIGKILL after the grace period, Kubernetes' default 30 s);
        seconds it took and the exit code (137 means it had to be killed)."""
        started = time.perf_counter()
        docker("stop", "-t", str(grace_seconds), self.name, check=False, timeout=grace_seconds + 30)
        seconds = time.perf_counter() - started
        return seconds, int(docker("inspect", "--format", "{{.State.ExitCode}}", self.name, check=False) or -1)

    def remove(self) -> None:
        docker("rm", "-f", self.name, check=False)
        for volume in self.volumes.values():
            docker("volume", "rm", "-f", volume, check=False)


@dataclass
class ContainerStack(LocalStack):
    """Webserver and daemon on the host; the code location is the container on `grpc_port`."""

    postgres: PostgresCluster | None = None
    container: CodeServerContainer | None = None

    def start(self) -> ContainerStack:
        # Instance = the chart's: Postgres storages, no compute logs kept (the chart's default NoOp).
        no_compute_logs = {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}
        self.extra_instance_config = {
            **self.postgres.instance_storage(scheme=chart_postgres_scheme()),
            "compute_logs": no_compute_logs,
        }
        self.container.wait_until_serving(self.grpc_port)
        env = {**os.environ, "DAGSTER_HOME": str(self.instance_home), "DAGSTER_PG_PASSWORD": self.postgres.password}
        # write_instance also creates the schema in this process, which resolves the password from the env.
        with mock.patch.dict(os.environ, {"DAGSTER_PG_PASSWORD": self.postgres.password}):
            self.write_instance()
        workspace = self.workdir / "workspace.yaml"
        self._spawn("webserver", [BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(self.web_port),
                                  "-w", workspace], env)  # fmt: skip
        self._instance_env = env
        self.start_daemon()
        wait_for(self._location_loaded, 180, "the container's code location to load in the webserver", poll=0.5)
        return self

    def _location_loaded(self) -> bool:
        if self.container and not self.container.is_running():
            raise RuntimeError(f"container {self.container.name} exited:\n{self.container.logs()[-3000:]}")
        return super()._location_loaded()


def chart_values() -> dict | None:
    """helm/values.yaml (the base the chart is installed with), or None where that file is not present."""
    values_file = REPO_ROOT / "helm" / "values.yaml"
    return yaml.safe_load(values_file.read_text()) if values_file.exists() else None


def chart_user_deployment(name: str) -> dict | None:
    values = chart_values()
    if values is None:
        return None
    return next(d for d in values["dagster-user-deployments"]["deployments"] if d["name"] == name)


def chart_postgres_scheme() -> str:
    """The SQLAlchemy URL scheme of the chart's instance (values postgresql.postgresqlScheme).

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which dagster-postgres does not install; its
    driver is psycopg2. Without helm/values.yaml the scheme the values must set is used.
    """
    values = chart_values()
    if values is None:
        return "postgresql+psycopg2"
    return (values.get("postgresql") or {}).get("postgresqlScheme") or "postgresql"
