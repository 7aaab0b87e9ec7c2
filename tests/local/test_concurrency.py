"""Every way the Dagster UI (and the CLI) launches work, on the real local stack: the three jobs, *Materialize*
of one asset, *Materialize all*, a re-execution and `dg launch --assets` launched together never run two
writers of a layer at once, every run logs each loguru record exactly once on the console and once in its
event log, and the files end as the independent DuckDB reference computes them.

Overlap is judged from each step's STEP_START and STEP_SUCCESS events in the event log: a layer's pool slot is
taken before its step starts and given back after the step succeeded, so two writers' windows never touch.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from tests.support.project import BIN, REPO_ROOT
from tests.support.runs import dg_env, layer_files, reference_outputs
from tests.support.stack import LocalStack, instance_of, overlapping, step_windows

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

WRITERS = {"silver": "silver_orders", "gold": "gold_region_sales"}
ALL_ASSETS = ["bronze_orders", "silver_orders", "gold_region_sales"]


def cli_materialize(stack: LocalStack, selection: str) -> subprocess.Popen:
    """`dg launch --assets` against the stack's instance: executes in this process, bypassing the queue."""
    env = dg_env(**{**stack.environment(), "DAGSTER_HOME": str(stack.instance_home)})  # make test exports one
    command = [BIN / "dg", "launch", "--assets", selection]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


@pytest.fixture(scope="module")
def repeated_bronze(local_stack) -> Path:
    """The sample repeated 3,000 times: each silver step takes seconds, so unserialized writers would overlap.
    The repeats are rejected as duplicates: silver holds the sample's orders, rejects grow."""
    bronze = local_stack.data_root / "bronze" / "bronze_data.csv"
    header, *rows = (REPO_ROOT / "data" / "bronze" / "bronze_data.csv").read_text().splitlines(keepends=True)
    bronze.write_text(header + "".join(rows) * 3000)
    return bronze


def test_writers_of_a_layer_never_overlap_whatever_launched_them(local_stack, repeated_bronze, tmp_path):
    server = local_stack.webserver()
    first = server.submit("bronze_to_silver_job")
    assert server.wait(first, timeout=300) == DagsterRunStatus.SUCCESS

    # Queue everything before the daemon looks, so the queue and the pools, not submission timing, decide.
    local_stack.kill("daemon")
    launches = [
        lambda s: s.submit("bronze_to_silver_job"),
        lambda s: s.submit("silver_to_gold_job"),
        lambda s: s.submit("medallion_job"),
        lambda s: s.materialize(["silver_orders"]),  # Materialize on one asset (graph or catalog)
        lambda s: s.materialize(ALL_ASSETS),  # Materialize all
        lambda s: s.materialize(["gold_region_sales"]),
        lambda s: s.reexecute(first, "ALL_STEPS"),  # the run page's Re-execute all
    ]
    # One client per thread: a GraphQL client session is not shared across threads.
    with ThreadPoolExecutor(len(launches)) as pool:
        run_ids = list(pool.map(lambda launch: launch(local_stack.webserver()), launches))
    local_stack.start_daemon()
    cli = cli_materialize(local_stack, "silver_orders")
    statuses = [server.wait(run_id, timeout=600) for run_id in run_ids]
    cli_output, _ = cli.communicate(timeout=600)
    assert cli.returncode == 0, cli_output[-3000:]
    failed = [run_id for run_id, status in zip(run_ids, statuses, strict=True) if status != DagsterRunStatus.SUCCESS]
    failures = {
        run_id: [e["message"][:500] for e in server.events(run_id) if e["level"] == "ERROR"] for run_id in failed
    }
    assert failures == {}

    instance = instance_of(local_stack)
    cli_run = next(r.run_id for r in instance.get_runs() if r.run_id not in {first, *run_ids})
    windows = {run_id: step_windows(instance, run_id) for run_id in [*run_ids, cli_run]}
    for layer, step in WRITERS.items():
        writers = {run_id: steps[step] for run_id, steps in windows.items() if step in steps}
        assert len(writers) >= 4, f"too few {layer} writers to prove anything: {writers}"
        clashes = [(a, b) for a, b in itertools.combinations(writers, 2) if overlapping(writers[a], writers[b])]
        assert clashes == [], f"{layer} writers overlapped: {clashes}"
    # Without the pools these runs would have overlapped: steps of different layers did run side by side.
    all_steps = [(run_id, step, window) for run_id, steps in windows.items() for step, window in steps.items()]
    assert any(
        a[0] != b[0] and a[1] != b[1] and overlapping(a[2], b[2]) for a, b in itertools.combinations(all_steps, 2)
    ), "no two runs ever ran at the same time: the test proves nothing about the pools"

    expected = reference_outputs(repeated_bronze, tmp_path / "expected")
    assert layer_files(local_stack.data_root) == expected
    assert list(local_stack.data_root.rglob("*.tmp")) == []


def bridged_messages(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step, first line) of the run's non-Dagster-event records: what the loguru bridge forwarded."""
    return [(entry.step_key, entry.user_message.split("\n")[0])
            for entry in instance.all_logs(run_id) if not entry.is_dagster_event]  # fmt: skip


def console_count(console: str, run_id: str, step: str, message: str) -> int:
    ending = f" - {step} - {message}"
    return sum(1 for line in console.splitlines() if run_id in line and line.endswith(ending))


def test_every_launch_path_logs_each_record_once(local_stack, repeated_bronze, tmp_path):
    """Once in the event log and once on the console (the code server's output, i.e. the pod log and the Tilt
    pane; the CLI's own output), in the same plain format, for jobs, Materialize, re-execution and the CLI."""
    server = local_stack.webserver()
    # A failed run to re-execute from its failure: bronze with a header only.
    sample = repeated_bronze.read_bytes()
    repeated_bronze.write_text(sample.decode().splitlines()[0] + "\n")
    failed = server.submit("bronze_to_silver_job")
    assert server.wait(failed, timeout=300) == DagsterRunStatus.FAILURE
    repeated_bronze.write_bytes(sample)

    launched = {
        "job": server.submit("medallion_job"),
        "materialize one asset": server.materialize(["silver_orders"]),
        "materialize all": server.materialize(ALL_ASSETS),
        "re-execute from failure": server.reexecute(failed, "FROM_FAILURE"),
    }
    for what, run_id in launched.items():
        assert server.wait(run_id, timeout=600) == DagsterRunStatus.SUCCESS, what
    cli = cli_materialize(local_stack, "*")
    cli_output, _ = cli.communicate(timeout=600)
    assert cli.returncode == 0, cli_output[-3000:]

    instance = instance_of(local_stack)
    known = {failed, *launched.values()}
    cli_run = max((r for r in instance.get_run_records() if r.dagster_run.run_id not in known),
                  key=lambda r: r.create_timestamp).dagster_run.run_id  # fmt: skip
    code_server_console = local_stack.log_text("code-server")
    consoles = {**{what: code_server_console for what in launched}, "dg launch --assets": cli_output}
    runs = {**launched, "dg launch --assets": cli_run}
    ansi = re.compile(r"\x1b\[")
    for what, run_id in runs.items():
        messages = bridged_messages(instance, run_id)
        assert any(m.startswith("silver done in") for _, m in messages), (what, messages)
        assert len(messages) == len(set(messages)), f"{what}: a record reached the event log twice"
        for step, message in messages:
            printed = console_count(consoles[what], run_id, step, message)
            assert printed == 1, f"{what}: {step} {message!r} printed {printed} times"
        assert not any(ansi.search(line) for line in consoles[what].splitlines() if run_id in line)
    # LOG_LEVEL (DEBUG by default) reaches every path: the silver step's per-reason DEBUG lines are there.
    for what, run_id in runs.items():
        assert any(m.startswith("rejected duplicate_order_id: ") for _, m in bridged_messages(instance, run_id)), what


def test_log_level_applies_to_ad_hoc_runs(tmp_path, data_root):
    """LOG_LEVEL=INFO in the code server's environment: an ad-hoc materialization drops the DEBUG records."""
    env = dg_env(LOG_LEVEL="INFO", DATA_ROOT=str(data_root), DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    result = subprocess.run([BIN / "dg", "launch", "--assets", "*"], env=env, cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert " - silver_orders - silver done in" in output
    assert " - silver_orders - rejected " not in output
