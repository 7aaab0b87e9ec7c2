"""The Tiltfile's live_update, replayed on a real local Dagster stack (code server + webserver + daemon, as the
chart runs them in inprocess mode): copy an edited defs/assets/silver.py over the code server's copy (Tilt's sync),
run the Tiltfile's own reload step against the webserver, and the next run logs the edit, with the same code
server process still serving."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support import stack
from tests.support.project import BIN
from tests.support.tilt import tiltfile_result
from tests.support.tools import require_tool

# Starting the stack (up to 120 s), a reload (120 s) and a run (180 s).
pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

ANCHOR = "    with loguru_to_dagster(context):\n"


def live_update_steps() -> dict:
    """Tilt's LiveUpdateSpec of the image in inprocess mode: syncs (local -> container) and execs (run steps)."""
    return tiltfile_result("--run-mode=inprocess").images["dagster-repo"].live_update


@pytest.fixture
def synced_stack(tmp_path):
    """A stack whose code server serves a copy of the synced package, as the pod serves APP_DIR."""
    found = shutil.which("dagster-webserver", path=str(BIN)) is not None
    require_tool("dagster-webserver", found, "dagster-webserver is not installed (make install)")
    steps = live_update_steps()
    (sync,) = steps["syncs"]
    synced_from = Path(steps["basePath"]) / sync["localPath"]
    app_dir = tmp_path / "app"  # stands for the image's APP_DIR
    shutil.copytree(synced_from, app_dir / synced_from.name, ignore=shutil.ignore_patterns("__pycache__"))
    data_root = tmp_path / "data"
    stack.copy_sample_bronze(data_root)
    local = stack.LocalStack(workdir=tmp_path / "stack", data_root=data_root, code_dir=app_dir).start()
    try:
        yield steps, app_dir / synced_from.name, local
    finally:
        local.stop()


def run_reload_step(steps: dict, package_dir: Path, local: stack.LocalStack) -> subprocess.CompletedProcess:
    """The Tiltfile's own live_update run() command, pointed at the local webserver."""
    (reload,) = steps["execs"]
    shell, flag, command = reload["args"]  # Tilt runs a run() step given as a string with sh -c
    assert (shell, flag) == ("sh", "-c")
    argv = command.split()
    argv[argv.index("--url") + 1] = local.url
    assert argv[:3] == ["python", "-m", "dagster_project.control"]
    return subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=package_dir.parent,
        env={**os.environ, "PYTHONPATH": str(package_dir.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sync_then_reload_step_makes_the_next_run_use_the_edit(synced_stack, tmp_path):
    steps, package_dir, local = synced_stack
    code_server_pid = local.processes["code-server"].pid
    marker = f"edited while tilt was up {uuid.uuid4().hex[:8]}"
    edited = tmp_path / "edit" / "silver.py"
    edited.parent.mkdir()
    source = (package_dir / "defs" / "assets" / "silver.py").read_text()
    if ANCHOR not in source:
        pytest.fail(f"defs/assets/silver.py no longer has {ANCHOR.strip()!r}; pick another place for the test edit")
    edited.write_text(source.replace(ANCHOR, f"{ANCHOR}        logger.info({marker!r})\n", 1))

    saved = time.perf_counter()
    shutil.copyfile(edited, package_dir / "defs" / "assets" / "silver.py")  # what Tilt's sync does
    reload = run_reload_step(steps, package_dir, local)
    reloaded = time.perf_counter()
    assert reload.returncode == 0, reload.stdout + reload.stderr

    webserver = local.webserver()
    run_id = webserver.submit("bronze_to_silver_job")
    assert webserver.wait(run_id, timeout=180).value == "SUCCESS"
    finished = time.perf_counter()
    assert marker in [event["message"] for event in webserver.events(run_id)]
    assert local.processes["code-server"].poll() is None
    assert local.processes["code-server"].pid == code_server_pid
    print(
        f"\n{reload.stdout.strip()}; save -> reloaded: {reloaded - saved:.2f}s; "
        f"save -> run with the edit finished: {finished - saved:.2f}s"
    )


def test_a_broken_edit_fails_the_reload_step_loudly_and_keeps_the_last_good_code(synced_stack):
    """Tilt shows a failed run step as a failed live update, so a syntax error must exit non-zero, with the
    compiler's message; the location is not reloaded (Dagster would replace the code with a load error), and
    the next good save reloads."""
    steps, package_dir, local = synced_stack
    silver_file = package_dir / "defs" / "assets" / "silver.py"
    server = local.webserver()
    served = {node["opVersion"] for node in server.assets() if node["isMaterializable"]}
    source = silver_file.read_text()
    silver_file.write_text(source + "\ndef broken(:\n")
    result = run_reload_step(steps, package_dir, local)
    assert result.returncode != 0
    assert 'silver.py", line' in result.stderr and "SyntaxError" in result.stderr, result.stderr
    assert "keeps serving the last code that loaded" in result.stderr
    assert server.load_error() is None
    assert {node["opVersion"] for node in server.assets() if node["isMaterializable"]} == served

    silver_file.write_text(source.replace(ANCHOR, f"{ANCHOR}        logger.info('fixed')\n", 1))
    fixed = run_reload_step(steps, package_dir, local)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "it serves the saved code" in fixed.stdout
    assert {node["opVersion"] for node in server.assets() if node["isMaterializable"]} != served
