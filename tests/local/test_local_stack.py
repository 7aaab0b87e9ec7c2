"""End to end on the real local stack in the cluster's topology (see tests/support/stack.py): submit both jobs over
GraphQL, wait for success, check the files and the bridged logs through GraphQL."""

import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from tests.support.contract_files import BRONZE, GOLD, SILVER, write_bronze

pytestmark = pytest.mark.stack


def failure_report(stack, server, run_id: str) -> str:
    """Why a run failed: its error and engine messages, and the end of the code server's log."""
    events = [f"{e['level']} {e['stepKey']}: {e['message']}" for e in server.events(run_id)]
    notable = [line for line in events if line.startswith(("ERROR", "CRITICAL")) or "process" in line.lower()]
    return "\n".join([*notable[-15:], "--- code server log ---", stack.log_text("code-server")[-4000:]])


def test_jobs_submitted_over_graphql_run_in_the_code_server(local_stack):
    write_bronze(local_stack.data_root, BRONZE)
    server = local_stack.webserver()
    timings = {}
    for job in ("bronze_to_silver_job", "silver_to_gold_job"):
        started = time.perf_counter()
        run_id = server.submit(job)
        status = server.wait(run_id, timeout=180)
        assert status == DagsterRunStatus.SUCCESS, failure_report(local_stack, server, run_id)
        timings[job] = time.perf_counter() - started

        events = server.events(run_id)
        bridged = [(e["level"], e["stepKey"], e["message"]) for e in events]
        if job == "bronze_to_silver_job":
            assert ("DEBUG", "silver_orders", "rejected invalid_order_date: 3 rows") in bridged
            assert ("INFO", "silver_orders", "5 rows kept, 11 rejected") in bridged
            assert sum(1 for e in events if e["message"].startswith("silver done in")) == 1
        else:
            assert sum(1 for e in events if e["message"].startswith("gold done in")) == 1
        assert not [e for e in events if "\x1b[" in e["message"]]
    print(f"submit-to-success seconds: {timings}")

    assert (local_stack.data_root / "silver" / "silver_data.csv").read_text() == SILVER
    assert (local_stack.data_root / "gold" / "gold_data.csv").read_text() == GOLD
    # The run worker is a child of the code server, so the plain stdout lines land in its log (the pod log).
    assert " - silver_orders - silver done in" in local_stack.log_text("code-server")
    # The code server's DAGSTER_HOME has no dagster.yaml and recorded no run: the runs it executed reached
    # the webserver's storage through the instance reference the launcher sent.
    assert not (local_stack.code_server_home / "dagster.yaml").exists()
    local_instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(local_stack.code_server_home)))
    assert local_instance.get_runs() == []
