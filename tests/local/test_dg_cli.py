"""The commands users type go through `dg`, and none of them prints a warning: `make run`, `make dev` and
`make check-defs` are run through make itself (this venv, a temporary DATA_ROOT and DAGSTER_HOME) and their whole
output is scanned; `make test` checks the definitions before the suite; `dg list defs` lists what
definitions.py wires.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tomllib
from pathlib import Path

import pytest
import requests
import yaml

from dagster_project.definitions import defs
from tests.support.make import make_command, project_copy, user_env
from tests.support.project import BIN, REPO_ROOT, load_project_env
from tests.support.runs import dg_env
from tests.support.stack import free_port, wait_for

ENV = load_project_env()

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Python's warnings print their category (SupersessionWarning, DeprecationWarning, UserWarning, ...).
WARNING_CATEGORY = re.compile(r"\b[A-Z]\w*Warning\b")
SUPERSEDED = re.compile(r"supersede|deprecat", re.IGNORECASE)
# A Dagster log record at level WARNING is the pipeline (or the daemon) talking, e.g. bronze's "ignoring extra
# column(s)": not a warning about the commands.
DAGSTER_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - [\w.-]+ - WARNING - ")


def warnings_in(output: str) -> list[str]:
    """Lines of a command's output that warn the user about the tooling: a Python warning, a superseded or
    deprecated command, or any other line saying "warning" (dg's own notes end "To suppress this warning")."""
    found = []
    for line in ANSI_ESCAPE.sub("", output).splitlines():
        tooling = "warning" in line.lower() and not DAGSTER_LOG_RECORD.match(line)
        if WARNING_CATEGORY.search(line) or SUPERSEDED.search(line) or tooling:
            found.append(line)
    return found


def test_the_dg_project_keeps_the_layout_the_code_server_image_and_chart_load():
    """dg reads the same package the image and the chart start with `-m`, under project.env's location name, and
    dg is pinned with the rest of the dagster family."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    dg = pyproject["tool"]["dg"]
    assert dg["directory_type"] == "project"
    package = dg["project"]["root_module"]
    assert dg["project"]["defs_module"] == f"{package}.defs"
    module = dg["project"]["code_location_target_module"]
    assert module == f"{package}.definitions"
    assert dg["project"]["code_location_name"] == ENV["CODE_LOCATION"]
    (deployment,) = yaml.safe_load((REPO_ROOT / "helm/values.yaml").read_text())["dagster-user-deployments"][
        "deployments"
    ]
    assert deployment["codeServerArgs"] == ["-m", module]
    assert f'"-m", "{module}"]' in (REPO_ROOT / "Dockerfile").read_text()
    version = ENV["DAGSTER_VERSION"]
    dev_pins = pyproject["project"]["optional-dependencies"]["dev"]
    for name in ("dagster-dg-cli", "dagster-dg-core", "dagster-cloud-cli", "dagster-webserver"):
        assert f"{name}=={version}" in dev_pins


def test_the_scan_finds_the_warning_a_superseded_command_prints(tmp_path):
    """The scanner's counter-check: `dagster definitions validate`, which dg check defs supersedes, warns."""
    command = [BIN / "dagster", "definitions", "validate", "-m", "dagster_project.definitions"]
    done = subprocess.run(command, cwd=REPO_ROOT, env=user_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = warnings_in(done.stdout + done.stderr)
    assert any("SupersessionWarning" in line and "dg check defs" in line for line in found), found


def test_make_run_launches_medallion_job_through_dg_without_a_warning(make, tmp_path):
    env = user_env(tmp_path)
    done = subprocess.run(make_command(make, "run"), env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "/bin/dg launch --job medallion_job" in done.stdout  # make echoes the recipe it ran
    assert 'Finished execution of run for "medallion_job"' in output
    assert (Path(env["DATA_ROOT"]) / "gold" / "gold_data.csv").is_file()
    assert warnings_in(output) == []


def test_make_check_defs_validates_the_definitions_without_a_warning(make, tmp_path):
    done = subprocess.run(make_command(make, "check-defs"), env=user_env(tmp_path), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "/bin/dg check defs" in done.stdout and "All definitions loaded successfully." in output
    assert warnings_in(output) == []


def test_make_test_reports_a_definitions_error_before_running_the_suite(make, tmp_path):
    """A project copy whose job selects a misspelt asset: `make test` stops at `dg check defs`, naming the key,
    and never starts pytest."""
    project = project_copy(tmp_path / "project", with_package=True)
    (project / "dagster_project" / "typo_job.py").write_text(
        'from dagster import define_asset_job\n\ntypo_job = define_asset_job("typo_job", selection="silver_ordres")\n'
    )
    wiring = project / "dagster_project" / "definitions.py"
    source = wiring.read_text()
    last_import = "from dagster_project.defs.sensors.run_guard import release_dead_runs\n"
    source = source.replace(last_import, f"{last_import}from dagster_project.typo_job import typo_job\n")
    wiring.write_text(source.replace("jobs=[bronze_to_silver_job,", "jobs=[typo_job, bronze_to_silver_job,"))
    env = {**user_env(tmp_path), "PYTHONPATH": str(project)}  # the copy, not the checkout's editable install
    done = subprocess.run(make_command(make, "test", directory=project), env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-4000:]
    assert "All checks passed!" in output  # lint ran first and passed: the failure is the definitions'
    assert "typo_job" in output and "silver_ordres" in output
    assert "-m pytest" not in output


def test_dg_list_defs_shows_the_three_assets_three_jobs_and_the_checks(tmp_path):
    done = subprocess.run([BIN / "dg", "list", "defs", "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
                          env=dg_env(DAGSTER_HOME=str(tmp_path)), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assets = sorted(asset["asset_key"] for asset in listed["assets"])
    assert assets == ["bronze_orders", "gold_region_sales", "silver_orders"]
    jobs = sorted(job["name"] for job in listed["jobs"])
    assert jobs == ["bronze_to_silver_job", "medallion_job", "silver_to_gold_job"]
    wired_checks = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert wired_checks, "definitions.py wires no asset check"
    assert {check["key"] for check in listed["asset_checks"]} == wired_checks
    assert warnings_in(done.stderr) == []


def location_loaded(url: str, location: str) -> bool:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    try:
        entries = requests.post(f"{url}/graphql", json={"query": query}, timeout=5).json()["data"]["workspaceOrError"]
    except (requests.RequestException, KeyError, TypeError, ValueError):
        return False
    return any(entry["name"] == location and entry["loadStatus"] == "LOADED" for entry in entries["locationEntries"])


@pytest.mark.stack
@pytest.mark.timeout(480)
def test_make_dev_serves_the_ui_and_stops_on_ctrl_c_without_a_warning(make, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "make-dev.log"
    with log_path.open("wb") as log:
        # As from a terminal, Ctrl-C's signal is not ignored: a suite started in the background (`.ci/run &`)
        # hands its children SIGINT ignored, and dg, the webserver and the code server then keep running.
        dev = subprocess.Popen(make_command(make, "dev", f"DEV_PORT={port}"), env=user_env(tmp_path), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        wait_for(lambda: dev.poll() is not None or location_loaded(url, ENV["CODE_LOCATION"]), 240,
                 f"make dev to serve {url} with the code location loaded")  # fmt: skip
        assert dev.poll() is None, log_path.read_text(errors="replace")[-4000:]
        # The daemon evaluates the sensors once it has loaded the code too: all three processes are up.
        wait_for(lambda: "Checking for new runs for sensor" in log_path.read_text(errors="replace"), 120,
                 "the daemon to tick the sensors")  # fmt: skip
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches make and dg alike
        # dagster dev gives each service 60 s to stop before it kills it and says so: wait past that.
        try:
            dev.wait(timeout=90)
            left = []
        except subprocess.TimeoutExpired:
            left = session_processes(dev.pid)
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
    assert not left, f"make dev still running 90 s after Ctrl-C: {left}\n{log_path.read_text(errors='replace')[-3000:]}"
    output = log_path.read_text(errors="replace")
    assert "/bin/dg dev --port" in output
    assert "Dagster services shut down." in output, output[-4000:]
    assert warnings_in(output) == []


def session_processes(session_id: int) -> list[str]:
    """The processes of a session (what Ctrl-C reached), with their state, for a report of what did not stop."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            if os.getsid(process.pid) == session_id:
                found.append(f"{process.pid} {process.info['status']} {' '.join(process.info['cmdline'] or [])[:160]}")
        except (ProcessLookupError, psutil.Error):
            continue
    return found
