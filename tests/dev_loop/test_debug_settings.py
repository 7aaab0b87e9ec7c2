"""Debug runs, the parts that need no stack: the port and the tag agree across project.env, the code, the
chart values, the instance and .vscode/launch.json; launch.json's path mappings turn this checkout's files
into the paths the image and the live sync give them; bad settings fail with their name; a taken port fails
the run at the deadline. tests/dev_loop/test_debug_run.py attaches a real client to a real run."""

from __future__ import annotations

import json
import posixpath
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import Failure

from dagster_project.contract.names import DEBUG_TAG, DEFAULT_DEBUG_PORT
from dagster_project.defs import debug_executor
from tests.support.docker_image import dockerfile_paths
from tests.support.project import REPO_ROOT, load_project_env
from tests.support.tilt import tiltfile_result

ENV = load_project_env()
PORT = int(ENV["DEBUG_PORT"])


def launch_configurations() -> dict[str, dict]:
    configurations = json.loads((REPO_ROOT / ".vscode" / "launch.json").read_text())["configurations"]
    return {c["name"]: c for c in configurations}


def remote_path(local: Path, mappings: list[dict]) -> str:
    """Where a local file lands in the pod, as debugpy maps it: the longest matching localRoot wins."""
    covering = []
    for mapping in mappings:
        root = Path(mapping["localRoot"].replace("${workspaceFolder}", str(REPO_ROOT)))
        if local == root or root in local.parents:
            covering.append((len(root.parts), root, mapping["remoteRoot"]))
    assert covering, f"no pathMapping of .vscode/launch.json covers {local}"
    _, root, remote = max(covering)
    return posixpath.join(remote, *local.relative_to(root).parts)


def test_the_debug_port_agrees_everywhere():
    assert 1024 < PORT < 65536, f"project.env: DEBUG_PORT={PORT} needs no root and must be a TCP port"
    assert DEFAULT_DEBUG_PORT == PORT, "dagster_project/contract/names.py DEFAULT_DEBUG_PORT differs from project.env"
    (deployment,) = yaml.safe_load((REPO_ROOT / "helm/values.yaml").read_text())["dagster-user-deployments"][
        "deployments"
    ]
    assert deployment["env"]["DEBUG_PORT"] == str(PORT), "helm/values.yaml: the code-server pod's DEBUG_PORT"
    for name, configuration in launch_configurations().items():
        assert configuration["connect"] == {"host": "localhost", "port": PORT}, f".vscode/launch.json: {name}"


def test_the_debug_tag_and_its_limit_agree():
    wanted = [{"key": DEBUG_TAG, "value": "true", "limit": 1}]
    instance = yaml.safe_load((REPO_ROOT / "dagster_home/dagster.yaml").read_text())
    assert instance["concurrency"]["runs"]["tag_concurrency_limits"] == wanted, "dagster_home/dagster.yaml"
    chart = yaml.safe_load((REPO_ROOT / "helm/values.yaml").read_text())
    assert chart["concurrency"]["runs"]["tagConcurrencyLimits"] == wanted, "helm/values.yaml"


def test_attach_maps_the_checkout_onto_the_images_code_and_the_live_sync():
    attach = launch_configurations()["Attach to Dagster run"]
    assert (attach["type"], attach["request"]) == ("debugpy", "attach")
    package, silver = REPO_ROOT / "dagster_project", "defs/assets/silver.py"
    assert (package / silver).is_file()
    mapped = remote_path(package / silver, attach["pathMappings"])

    image = dockerfile_paths()
    assert mapped == f"{image['COPY dagster_project']}/{silver}", "the image's copy (Dockerfile)"
    live_update = tiltfile_result("--run-mode=inprocess").images[ENV["IMAGE"]].live_update
    (sync,) = live_update["syncs"]
    assert Path(live_update["basePath"]) / sync["localPath"] == package
    assert mapped == f"{sync['containerPath'].rstrip('/')}/{silver}", "the live sync (Tiltfile)"
    assert mapped == f"{ENV['APP_DIR']}/dagster_project/{silver}", "project.env APP_DIR"


def test_attach_locally_needs_no_mapping():
    """`make dev` runs the checkout itself: the local configuration must not remap it."""
    local = launch_configurations()["Attach to local Dagster run (make dev)"]
    assert (local["type"], local["request"]) == ("debugpy", "attach")
    assert not local.get("pathMappings")


@pytest.mark.parametrize(("value", "wanted"), [(None, False), ("false", False), ("true", True), (" TRUE ", True)])
def test_the_tag_is_read_as_a_yes_or_no(value, wanted):
    tags = {} if value is None else {DEBUG_TAG: value}
    assert debug_executor.wants_debugger(tags) is wanted


def test_a_tag_that_is_neither_fails_naming_it():
    with pytest.raises(Failure, match=r'medallion/debug must be "true" or "false", not \'yes please\''):
        debug_executor.wants_debugger({DEBUG_TAG: "yes please"})


BAD_SETTINGS = [("DEBUG_PORT", "http"), ("DEBUG_PORT", "70000"), ("DEBUG_WAIT_SECONDS", "0")]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_settings_fail_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    read = debug_executor.debug_port if name == "DEBUG_PORT" else debug_executor.wait_seconds
    with pytest.raises(Failure, match=f"{name}='{value}' must be a whole number"):
        read()


def test_a_port_held_by_another_program_fails_at_the_deadline_naming_the_port():
    """The queue keeps debug runs apart; a port taken outside Dagster ends the run with a clear message."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        script = (
            "import logging, sys\n"
            "from dagster_project.defs.debug_executor import DebuggerNotAttached, wait_for_debugger\n"
            "try:\n"
            f"    wait_for_debugger(logging.getLogger('run'), {port}, 2)\n"
            "except DebuggerNotAttached as error:\n"
            "    print(error.description)\n"
            "    print('debugpy' in sys.modules)\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    message, imported = done.stdout.strip().splitlines()[-2:]
    assert f"port {port} stayed in use for 2s" in message and "re-execute" in message, done.stdout
    assert imported == "True"
