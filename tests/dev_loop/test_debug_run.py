"""Debug runs on the real local stack (code server, webserver, daemon as the chart runs them in inprocess mode; each
run executes in a subprocess of the code server): a run tagged medallion/debug=true waits for a debugger, a real
DAP client attaches over TCP with .vscode/launch.json's configuration, stops at a breakpoint in the silver step,
reads its variables, continues, and the run succeeds. Untagged runs never import debugpy nor open the port; a
debugger that never comes fails the run before any step, and the next debug run waits in the queue meanwhile.

The code server serves a copy of the package from another directory, as the pod serves APP_DIR: breakpoints are
set in this checkout's files and reach the copy only through launch.json's pathMappings.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support import stack
from tests.support.dap_client import DapClient
from tests.support.project import BIN, REPO_ROOT
from tests.support.runs import layer_files
from tests.support.tools import require_tool

# Starting the stack (up to 120 s) and each test's runs (a few minutes on two busy cores).
pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

SILVER_SOURCE = REPO_ROOT / "dagster_project" / "defs" / "assets" / "silver.py"
DEBUG_TAGS = {"medallion/debug": "true"}
# Long enough for the client below to attach on a loaded machine, short enough to test the timeout.
WAIT_SECONDS = 20
# An import in CPython's -X importtime report ("import time: self | cumulative | package").
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", re.M)

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status startTime endTime tags { key value } }
  }
}
"""
ERRORS_QUERY = """
query Errors($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on ErrorEvent { error { message } } } }
  }
}
"""


@pytest.fixture(scope="module")
def debug_stack(tmp_path_factory):
    found = shutil.which("dagster-webserver", path=str(BIN)) is not None
    require_tool("dagster-webserver", found, "dagster-webserver is not installed (make install)")
    work = tmp_path_factory.mktemp("debug")
    app_dir = work / "app"  # stands for the image's APP_DIR
    shutil.copytree(REPO_ROOT / "dagster_project", app_dir / "dagster_project",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    data_root = work / "data"
    stack.copy_sample_bronze(data_root)
    port = stack.free_port()
    env = {
        **os.environ,
        "DEBUG_PORT": str(port),
        "DEBUG_WAIT_SECONDS": str(WAIT_SECONDS),
        # Every process of the stack, run workers included, reports each module it imports on stderr.
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    local = stack.LocalStack(workdir=work / "stack", data_root=data_root, code_dir=app_dir, base_env=env).start()
    try:
        yield local, app_dir, port
    finally:
        local.stop()


def listening(port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in psutil.net_connections("tcp"))


def run_info(local: stack.LocalStack, run_id: str) -> dict:
    run = local.webserver().graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
    return {**run, "tags": {t["key"]: t["value"] for t in run["tags"]}}


def run_errors(local: stack.LocalStack, run_id: str) -> list[str]:
    events = local.webserver().graphql(ERRORS_QUERY, {"runId": run_id})["logsForRun"]["events"]
    return [e["error"]["message"] for e in events if e.get("error")]


def wait_until_listening(local: stack.LocalStack, run_id: str, port: int) -> None:
    def ready():
        status = run_info(local, run_id)["status"]
        assert status in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"), f"run {run_id} ended {status}"
        return status == "STARTED" and listening(port)

    stack.wait_for(ready, 180, f"debug run {run_id} to listen on port {port}")


def imports_in(log_text: str) -> set[str]:
    return set(IMPORT_LINE.findall(log_text))


def attach_configuration(app_dir: Path) -> dict:
    """launch.json's 'Attach to Dagster run', as VS Code sends it: ${workspaceFolder} is this checkout, and the
    code's place in the image (APP_DIR) is where this stack's code server serves the copy from."""
    configurations = json.loads((REPO_ROOT / ".vscode" / "launch.json").read_text())["configurations"]
    (config,) = [c for c in configurations if c["name"] == "Attach to Dagster run"]
    text = json.dumps(config).replace("${workspaceFolder}", str(REPO_ROOT)).replace("/opt/dagster/app", str(app_dir))
    return json.loads(text)


def clean_batch_line() -> int:
    """The line of the silver step that hands a bronze batch to the rules (cleaner.clean_batch), found in the
    source."""
    tree = ast.parse(SILVER_SOURCE.read_text())
    (function,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "silver_orders"]
    simple = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)
    lines = [
        statement.lineno
        for statement in ast.walk(function)
        if isinstance(statement, simple)
        for call in ast.walk(statement)
        if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "clean_batch"
    ]
    assert lines, f"silver_orders in {SILVER_SOURCE} no longer calls clean_batch: pick another line to stop at"
    return lines[0]


def bronze_rows(local: stack.LocalStack) -> int:
    with (local.data_root / "bronze" / "bronze_data.csv").open(newline="") as file:
        return sum(1 for _ in csv.reader(file)) - 1


def submit_with_debug_flag(local: stack.LocalStack, port: int) -> str:
    """`control submit medallion_job --debug`, as the Tilt button runs it; returns the run id it printed."""
    argv = [sys.executable, "-m", "dagster_project.control", "--url", local.url, "submit", "medallion_job", "--debug"]
    env = {**os.environ, "DEBUG_PORT": str(port)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    launched = re.search(r"^run (\S+): http", done.stdout, re.M)
    assert launched, done.stdout
    assert f"waits for a debugger on port {port}" in done.stdout and "Attach to Dagster run" in done.stdout
    return launched.group(1)


def test_untagged_run_never_imports_debugpy_nor_opens_the_port(debug_stack):
    local, _, port = debug_stack
    server = local.webserver()
    log_start = len(local.log_text("code-server"))
    run_id = server.submit("medallion_job")
    opened = False
    while run_info(local, run_id)["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
        opened = opened or listening(port)  # debugpy, once listening, stays so until its process exits
        time.sleep(0.05)
    assert server.wait(run_id, timeout=10).value == "SUCCESS"
    assert not opened, f"an untagged run listened on the debug port {port}"
    imported = imports_in(local.log_text("code-server")[log_start:])
    # The run worker's own imports are in the report (pyarrow loads with the first step, never in the code
    # server), so an absent debugpy means the worker never imported it.
    assert "pyarrow" in imported, "the run worker's imports are missing from the code server's output"
    assert not {m for m in imported if m.split(".")[0] == "debugpy"}, "an untagged run imported debugpy"


def test_debug_run_stops_at_a_breakpoint_in_silver_then_succeeds(debug_stack):
    local, app_dir, port = debug_stack
    server = local.webserver()
    line = clean_batch_line()
    log_start = len(local.log_text("code-server"))
    run_id = submit_with_debug_flag(local, port)
    assert run_info(local, run_id)["tags"].get("medallion/debug") == "true"
    wait_until_listening(local, run_id, port)
    # debugpy listens first, then the run logs that it waits: the event may land a moment after the port opens.
    stack.wait_for(lambda: [e for e in server.events(run_id) if "waiting up to" in e["message"]], 30,
                   "the run to log that it waits for a debugger")  # fmt: skip
    waiting = [e for e in server.events(run_id) if "waiting up to" in e["message"]]
    assert f"port {port}" in waiting[0]["message"], "the run does not say on which port it waits"
    assert waiting[0]["stepKey"] is None, "the wait belongs before the steps"

    client = DapClient("127.0.0.1", port)
    try:
        answered = client.attach(attach_configuration(app_dir), {str(SILVER_SOURCE): [line]})
        assert [b["verified"] for b in answered[str(SILVER_SOURCE)]] == [True], answered
        stopped = client.wait_event("stopped", timeout=180)
        assert stopped["reason"] == "breakpoint", stopped
        (top, *_) = client.request("stackTrace", threadId=stopped["threadId"])["stackFrames"]
        # debugpy runs the copy and reports this checkout's file: the mapping works both ways.
        assert (Path(top["source"]["path"]), top["line"]) == (SILVER_SOURCE, line), top
        assert run_info(local, run_id)["status"] == "STARTED"

        local_variables = client.locals_of(top["id"])
        assert {"batch", "cleaner", "storage", "context"} <= set(local_variables), sorted(local_variables)
        # The sample is one batch: the frame holds every bronze row, none cleaned yet.
        assert client.evaluate("batch.num_rows", top["id"]) == str(bronze_rows(local))
        assert client.evaluate("cleaner.rows_before", top["id"]) == "0"
        assert client.evaluate("storage.root", top["id"]) == repr(str(local.data_root))

        client.request("continue", threadId=stopped["threadId"])
        assert server.wait(run_id, timeout=300).value == "SUCCESS"
    finally:
        client.close()
    imported = imports_in(local.log_text("code-server")[log_start:])
    assert "debugpy" in imported, "the import report misses debugpy, so the untagged test would prove nothing"


def test_unattended_debug_run_fails_before_any_step_and_the_next_waits_for_the_port(debug_stack):
    local, app_dir, port = debug_stack
    server = local.webserver()
    before = layer_files(local.data_root)
    first = server.submit("medallion_job", tags=DEBUG_TAGS)
    wait_until_listening(local, first, port)
    second = server.submit("medallion_job", tags=DEBUG_TAGS)
    # One debug session per port: the queue holds the second tagged run while the first one waits.
    stack.wait_for(lambda: run_info(local, second)["status"] == "QUEUED", 60, "the second debug run to queue")

    assert server.wait(first, timeout=WAIT_SECONDS + 120).value == "FAILURE"
    errors = run_errors(local, first)
    assert any(f"no debugger attached to port {port} within {WAIT_SECONDS}s" in m for m in errors), errors
    # The plan announces its steps (planned materializations carry a step key) before the executor waits;
    # what must be absent is any step starting.
    types = {e["__typename"] for e in server.events(first)}
    assert "AssetMaterializationPlannedEvent" in types, "the run's events are missing: this check would pass"
    assert "ExecutionStepStartEvent" not in types, "a step started although no debugger came"
    assert layer_files(local.data_root) == before, "a debug run without its debugger changed a layer"
    info = run_info(local, first)
    # Not retried by run retries: the retry would wait for a debugger again.
    assert info["tags"].get("dagster/max_retries") == "0"
    assert info["tags"].get("dagster/will_retry") == "false", info["tags"]

    wait_until_listening(local, second, port)
    assert run_info(local, second)["startTime"] >= info["endTime"], "the second debug run started too early"
    client = DapClient("127.0.0.1", port)
    try:
        client.attach(attach_configuration(app_dir), {})  # attach without breakpoints: the run just goes on
        assert server.wait(second, timeout=300).value == "SUCCESS"
    finally:
        client.close()
