"""The user-code image built and run for real: as the chart's code-server pod, against real PostgreSQL,
with Dagster's webserver and daemon on the host loading it as a gRPC code location (tests/support/container_stack.py).

Needs a Docker engine (skips without one, fails if MEDALLION_REQUIRE names docker). CI builds on the Debian
base that .ci/setup-docker.sh exports as PYTHON_IMAGE; elsewhere the Dockerfile's python:3.11-slim.
Image size, build, reload and stop times are printed at the end and written to container-metrics.json.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from tests.support.container_stack import (
    CodeServerContainer,
    ContainerStack,
    PostgresCluster,
    chart_user_deployment,
    docker,
    postgres_bindir,
    tar_of,
)
from tests.support.contract_files import BRONZE, GOLD, REJECTS, SILVER
from tests.support.project import (
    LIST_DISTRIBUTIONS,
    REPO_ROOT,
    installed_versions,
    load_project_env,
    locked_runtime_versions,
    uv_binary,
)
from tests.support.runs import OUTPUTS
from tests.support.stack import wait_for
from tests.support.tools import require_tool

# The first test builds the image (bounded at 1800 s), then waits for the server and a run.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(2700)]

ENV = load_project_env()

# The chart's dagsterHome: the user-code pod gets it with no dagster.yaml inside.
CHART_DAGSTER_HOME = "/opt/dagster/dagster_home"
IMAGE_SIZE_LIMIT = 500_000_000


def image_config(image: str) -> dict:
    return json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image))


def chart_command(image: str, location: str, port: int) -> list[str]:
    """What the chart's user-code Deployment runs: its code-server args around the values' codeServerArgs;
    before helm/values.yaml exists, the image's own CMD."""
    deployment = chart_user_deployment(location)
    if deployment is None:
        command = list(image_config(image)["Cmd"])
        command[command.index("-p") + 1] = str(port)
        return command
    return ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(port), *deployment["codeServerArgs"]]


def test_image_defaults_match_the_chart_and_project(image, metrics):
    config = image_config(image)
    uid, gid, app_dir = ENV["APP_UID"], ENV["APP_GID"], ENV["APP_DIR"]
    assert config["User"] == f"{uid}:{gid}"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["DAGSTER_HOME"] == CHART_DAGSTER_HOME
    assert env["DATA_ROOT"] == ENV["DATA_ROOT"]
    assert env["PYTHONUNBUFFERED"] == "1"
    assert config["Entrypoint"][0] == "tini"
    # The image alone serves the location the way the chart does, on the port the chart's Service targets.
    port = int(ENV["CODE_SERVER_PORT"])
    assert config["Cmd"] == chart_command(image, ENV["CODE_LOCATION"], port)

    probe = (
        'id -u; id -g; command -v tar; ls -A "$DAGSTER_HOME" | wc -l; test -w "$DAGSTER_HOME" && echo writable; '
        "python -c 'import dagster_project; print(dagster_project.__file__)'"
    )
    lines = docker("run", "--rm", "--network", "host", "--entrypoint", "sh", image, "-c", probe).split()
    assert lines == [uid, gid, "/usr/bin/tar", "0", "writable", f"{app_dir}/dagster_project/__init__.py"]

    baked = docker("run", "--rm", "--entrypoint", "cat", image, f"{app_dir}/data/bronze/bronze_data.csv")
    assert baked == (REPO_ROOT / "data" / "bronze" / "bronze_data.csv").read_text()
    assert metrics["image_mb"] * 1e6 <= IMAGE_SIZE_LIMIT, f"image is {metrics['image_mb']} MB"


def test_the_image_and_the_venv_run_exactly_what_uv_lock_pins(image):
    """One lock for both: the image holds the locked runtime set and nothing else, and the venv the tests run in
    has every one of those packages at the same version."""
    uv = uv_binary()
    require_tool("uv", uv is not None, "uv comes with `make install` (run the suite through make test)")
    locked = locked_runtime_versions(uv)
    assert {"dagster", "pandas", "pyarrow", "grpcio", "sqlalchemy", "protobuf", "numpy", "pydantic"} <= set(locked)
    in_image = installed_versions(docker("run", "--rm", "--entrypoint", "python", image, "-c", LIST_DISTRIBUTIONS))
    assert in_image == locked
    in_venv = installed_versions(subprocess.run([sys.executable, "-c", LIST_DISTRIBUTIONS], capture_output=True,
                                                text=True, check=True).stdout)  # fmt: skip
    assert {name: in_venv.get(name) for name in locked} == locked


def test_the_trimmed_image_still_starts_a_debug_server(image):
    """Debug runs in the cluster (debug_run.py) need debugpy after the Dockerfile removed its C sources and its
    attach-by-pid helpers: it must listen, and accept a connection, inside the image."""
    probe = (
        "import debugpy, socket; host, port = debugpy.listen(('127.0.0.1', 0)); "
        "socket.create_connection((host, port), timeout=30).close(); print('debug server on', port)"
    )
    output = docker("run", "--rm", "--entrypoint", "python", image, "-c", probe)
    assert output.startswith("debug server on "), output


@pytest.fixture(scope="module")
def container_stack(image, metrics, tmp_path_factory):
    bindir = postgres_bindir()
    require_tool("postgresql", bindir is not None, "PostgreSQL server binaries not found (apt-get install postgresql)")
    postgres = PostgresCluster(bindir).start()
    stack = ContainerStack(workdir=tmp_path_factory.mktemp("container"), data_root=Path(ENV["DATA_ROOT"]),
                           postgres=postgres)  # fmt: skip
    location = ENV["CODE_LOCATION"]
    deployment = chart_user_deployment(location) or {}
    env = {
        "DAGSTER_HOME": CHART_DAGSTER_HOME,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_CURRENT_IMAGE": image,
        "DATA_ROOT": ENV["DATA_ROOT"],
        **{key: str(value) for key, value in (deployment.get("env") or {}).items()},
    }
    # Host networking shares the host's ports, so the code server takes a free one instead of the pod's 3030.
    stack.container = CodeServerContainer(
        image=image,
        command=chart_command(image, location, stack.grpc_port),
        env=env,
        data_root=ENV["DATA_ROOT"],
        uid=int(ENV["APP_UID"]),
        gid=int(ENV["APP_GID"]),
    )
    exit_code = None
    try:
        started = time.perf_counter()
        stack.container.start(bronze=BRONZE.encode())
        stack.start()
        metrics["code_location_load_seconds"] = round(time.perf_counter() - started, 1)
        yield stack
        # Stopped the way a rollout stops the pod, with the webserver still connected to it.
        seconds, exit_code = stack.container.stop()
        metrics.update(container_stop_seconds=round(seconds, 1), container_exit_code=exit_code)
    finally:
        stack.container.stop(grace_seconds=1)
        stack.stop()
        stack.container.remove()
        postgres.stop()
    assert exit_code == 0, f"the code server did not exit cleanly on SIGTERM (exit code {exit_code})"


def run_job(stack: ContainerStack, job: str) -> tuple[str, list[tuple[str, str, str]]]:
    server = stack.webserver()
    run_id = server.submit(job)
    status = server.wait(run_id, timeout=300)
    events = server.events(run_id)
    last_messages = [event["message"] for event in events][-10:]
    assert status == DagsterRunStatus.SUCCESS, (last_messages, stack.container.logs()[-3000:])
    return run_id, [(e["level"], e["stepKey"], e["message"]) for e in events]


def test_jobs_run_inside_the_container_as_the_app_user(container_stack):
    container, data_root = container_stack.container, ENV["DATA_ROOT"]
    uid = ENV["APP_UID"]
    # The chart's readiness probe, run in the container.
    container.exec("dagster", "api", "grpc-health-check", "-p", str(container_stack.grpc_port))

    _, silver_events = run_job(container_stack, "bronze_to_silver_job")
    _, gold_events = run_job(container_stack, "silver_to_gold_job")

    # Bridged loguru records reached the event log in Postgres from the run worker inside the container.
    assert ("DEBUG", "silver_orders", "rejected invalid_order_date: 3 rows") in silver_events
    assert ("INFO", "silver_orders", "5 rows kept, 11 rejected") in silver_events
    assert any(message.startswith("gold done in") for _, _, message in gold_events)
    # The plain stdout line is in the container log, where `kubectl logs` would show it.
    assert " - silver_orders - silver done in" in container.logs()

    def read(path: str) -> str:
        return container.exec("cat", f"{data_root}/{path}")

    assert read("silver/silver_data.csv") == SILVER
    assert read("silver/rejected_rows.csv") == REJECTS
    assert read("gold/gold_data.csv") == GOLD
    assert read("bronze/bronze_data.csv") == BRONZE

    owners = container.exec("stat", "-c", "%u:%g", *[f"{data_root}/{path}" for path in OUTPUTS]).split()
    assert owners == [f"{uid}:{ENV['APP_GID']}"] * 3
    processes = container.process_uids()
    assert any("code-server start" in args for args in processes), processes
    assert set(processes.values()) == {uid}, processes

    status, output = container.exec_status("sh", "-c", f"echo tampered >> {data_root}/bronze/bronze_data.csv")
    assert status != 0 and "Read-only file system" in output
    # The code server's DAGSTER_HOME has no dagster.yaml and its default (SQLite) instance recorded no run:
    # the runs reached Postgres through the instance reference the launcher sent, as in the user-code pod.
    assert container.exec_status("test", "-e", f"{CHART_DAGSTER_HOME}/dagster.yaml")[0] != 0
    local_runs = "from dagster import DagsterInstance; print(len(DagsterInstance.get().get_runs()))"
    assert container.exec("python", "-c", local_runs).split()[-1] == "0"


def with_marker_line(source: str, marker: str) -> str:
    """The silver asset's module with one more loguru line at the top of the bridged block."""
    anchor = re.search(r"^(?P<indent>\s*)with loguru_to_dagster\(context\):\n", source, flags=re.MULTILINE)
    assert anchor, "defs/assets/silver.py no longer opens `with loguru_to_dagster(context):`; update this test"
    line = f"{anchor['indent']}    logger.info({marker!r})\n"
    return source[: anchor.end()] + line + source[anchor.end() :]


def test_live_synced_code_runs_after_a_graphql_reload(container_stack, metrics):
    container, app_dir = container_stack.container, ENV["APP_DIR"]
    marker = f"live-synced code {secrets.token_hex(4)}"
    silver = "dagster_project/defs/assets/silver.py"
    changed = with_marker_line((REPO_ROOT / silver).read_text(), marker)
    archive = tar_of({silver: changed.encode()}, container.uid, container.gid)

    # What Tilt's live_update does: stream a tar into `tar -x` in the running container, as the image user.
    started = time.perf_counter()
    container.exec("tar", "-x", "-C", app_dir, "-f", "-", stdin=archive)
    synced = time.perf_counter()
    container_stack.webserver().reload()
    reloaded = time.perf_counter()
    _, events = run_job(container_stack, "bronze_to_silver_job")
    finished = time.perf_counter()

    assert ("INFO", "silver_orders", marker) in events
    assert container.exec("cat", f"{app_dir}/{silver}") == changed
    metrics.update(
        live_sync_seconds=round(synced - started, 2),
        reload_seconds=round(reloaded - synced, 2),
        sync_to_new_code_run_seconds=round(finished - started, 2),
    )


def layer_digests(container: CodeServerContainer) -> dict[str, str | None]:
    """sha256 of each output in the container's volumes (None where missing): 80 MB stay in the container."""
    digests = {}
    for name in OUTPUTS:
        status, output = container.exec_status("sha256sum", f"{container.data_root}/{name}")
        digests[name] = output.split()[0] if status == 0 else None
    return digests


def test_container_killed_mid_run_fails_the_run_and_frees_the_layer(container_stack, big_bronze):
    """`docker kill` (SIGKILL to every process, as an OOM kill or a forced pod deletion), then the container
    restarts 5 s later, as the kubelet restarts it: the run is failed, the layer freed, nothing half-written."""
    import hashlib

    container, server = container_stack.container, container_stack.webserver()
    before = layer_digests(container)
    bronze, expected = big_bronze
    container.seed_bronze(bronze.read_bytes())
    run_id = server.submit("medallion_job")

    def in_silver() -> bool:
        return any(e["stepKey"] == "silver_orders" and e["message"].startswith("cleaning ")
                   for e in server.events(run_id))  # fmt: skip

    wait_for(in_silver, 300, "the silver step to start in the container", poll=0.1)
    killed_at = time.monotonic()
    docker("kill", container.name)
    time.sleep(5)
    docker("start", container.name)
    container.wait_until_serving(container_stack.grpc_port)
    status = server.wait(run_id, timeout=120, poll=0.25)
    detected = time.monotonic() - killed_at
    errors = [e["message"] for e in server.events(run_id) if e["level"] == "ERROR"]
    assert status == DagsterRunStatus.FAILURE
    assert any("Run worker gone" in message for message in errors), errors
    assert detected <= 20, f"the run was failed {detected:.1f}s after docker kill"
    print(f"docker kill of the code-server container: FAILURE {detected:.1f}s after the kill")
    after_kill = layer_digests(container)

    run_job(container_stack, "medallion_job")
    final = layer_digests(container)
    assert final == {name: hashlib.sha256(content).hexdigest() for name, content in expected.items()}
    for name in OUTPUTS:
        assert after_kill[name] in (before[name], final[name]), f"{name} was left half-written"
    # The sample again, for whatever runs after this test in the module.
    container.seed_bronze(BRONZE.encode())
