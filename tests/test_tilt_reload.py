"""The Tiltfile's live_update, replayed on a real local Dagster stack (code server + webserver + daemon, as the
chart runs them in inprocess mode): copy an edited silver_asset.py over the code server's copy (Tilt's sync),
run the Tiltfile's own reload step against the webserver, and the next run logs the edit, with the same code
server process still serving."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests import stack
from tests.conftest import BIN, require_tool
from tests.tilt_api_stub import evaluate

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[1]
ANCHOR = "    with loguru_to_dagster(context):\n"


def start_stack(tmp_path: Path, app_dir: Path) -> stack.LocalStack:
    found = shutil.which("dagster-webserver", path=str(BIN)) is not None
    require_tool("dagster-webserver", found, "dagster-webserver is not installed (pip install -e '.[dev]')")
    data_root = tmp_path / "data"
    stack.copy_sample_bronze(data_root)
    return stack.LocalStack(workdir=tmp_path / "stack", data_root=data_root, code_dir=app_dir).start()


def live_update_steps() -> dict:
    steps = evaluate(REPO / "Tiltfile", args=["--run-mode=inprocess"]).images["dagster-repo"]["live_update"]
    return {step.kind: step.args for step in steps}


def test_sync_then_reload_step_makes_the_next_run_use_the_edit(tmp_path):
    steps = live_update_steps()
    synced_from = Path(steps["sync"]["local_path"])
    app_dir = tmp_path / "app"  # stands for the image's APP_DIR
    shutil.copytree(synced_from, app_dir / synced_from.name, ignore=shutil.ignore_patterns("__pycache__"))
    local = start_stack(tmp_path, app_dir)
    try:
        code_server_pid = local.processes["code-server"].pid
        marker = f"edited while tilt was up {uuid.uuid4().hex[:8]}"
        edited = tmp_path / "edit" / "silver_asset.py"
        edited.parent.mkdir()
        source = (synced_from / "silver_asset.py").read_text()
        if ANCHOR not in source:
            pytest.fail(f"silver_asset.py no longer has {ANCHOR.strip()!r}; pick another place for the test edit")
        edited.write_text(source.replace(ANCHOR, f"{ANCHOR}        logger.info({marker!r})\n", 1))

        saved = time.perf_counter()
        shutil.copyfile(edited, app_dir / synced_from.name / "silver_asset.py")  # what Tilt's sync does
        argv = steps["run"]["cmd"].split()
        argv[argv.index("--url") + 1] = local.url
        assert argv[:3] == ["python", "-m", "dagster_project.control"]
        reload = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=app_dir,
            env={**os.environ, "PYTHONPATH": str(app_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
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
    finally:
        local.stop()


def test_a_broken_edit_fails_the_reload_step_loudly(tmp_path):
    """Tilt shows a failed run step as a failed live update, so a syntax error must exit non-zero."""
    steps = live_update_steps()
    synced_from = Path(steps["sync"]["local_path"])
    app_dir = tmp_path / "app"
    shutil.copytree(synced_from, app_dir / synced_from.name, ignore=shutil.ignore_patterns("__pycache__"))
    local = start_stack(tmp_path, app_dir)
    try:
        (app_dir / synced_from.name / "silver_asset.py").write_text("def broken(:\n")
        argv = steps["run"]["cmd"].split()
        argv[argv.index("--url") + 1] = local.url
        result = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=app_dir,
            env={**os.environ, "PYTHONPATH": str(app_dir)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0
        assert re.search(r"SyntaxError|silver_asset", result.stderr), result.stderr
    finally:
        local.stop()
