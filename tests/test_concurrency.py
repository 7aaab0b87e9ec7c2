"""Eight runs submitted at once on the real local stack: all finish, runs that write the same layer never
overlap (the QueuedRunCoordinator's tag limits), files end complete and gold reconciles with silver."""

import itertools
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from dagster_project import rules
from dagster_project.jobs import WRITES_GOLD, WRITES_SILVER

pytestmark = pytest.mark.stack

SUBMISSIONS = ["bronze_to_silver_job", "silver_to_gold_job", "medallion_job"] * 2 + ["bronze_to_silver_job"] * 2


def overlapping(a, b) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time


def test_eight_concurrent_submissions_are_serialized_per_layer(local_stack):
    # Repeating the sample makes each run take a few seconds, long enough that unlimited runs would overlap;
    # the repeats are rejected as duplicates, so silver still holds the sample's 96 orders.
    bronze = local_stack.data_root / "bronze" / "bronze_data.csv"
    header, *rows = bronze.read_text().splitlines(keepends=True)
    bronze.write_text(header + "".join(rows) * 5000)
    server = local_stack.webserver()
    # silver_to_gold needs silver on disk before it can succeed, whatever order the queue picks.
    first = server.submit("bronze_to_silver_job")
    assert server.wait(first, timeout=120) == DagsterRunStatus.SUCCESS, server.events(first)[-6:]

    # Queue all eight before the daemon looks, so the coordinator, not submission timing, decides what runs
    # together. One client per thread: a GraphQL client session is not shared across threads.
    local_stack.stop_daemon()
    with ThreadPoolExecutor(len(SUBMISSIONS)) as pool:
        run_ids = list(pool.map(lambda job: local_stack.webserver().submit(job), SUBMISSIONS))
    local_stack.start_daemon()
    statuses = [server.wait(run_id, timeout=300) for run_id in run_ids]
    assert statuses == [DagsterRunStatus.SUCCESS] * len(SUBMISSIONS)

    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(local_stack.instance_home)))
    records = [instance.get_run_record_by_id(run_id) for run_id in run_ids]
    for tags in (WRITES_SILVER, WRITES_GOLD):
        (key,) = tags
        writers = [r for r in records if r.dagster_run.tags.get(key) == "true"]
        assert len(writers) >= 4
        clashes = [(a.dagster_run.run_id, b.dagster_run.run_id)
                   for a, b in itertools.combinations(writers, 2) if overlapping(a, b)]  # fmt: skip
        assert clashes == [], f"runs tagged {key} overlapped"
    # Without the limits these runs would have overlapped: different layers did run side by side.
    timeline = sorted((r.start_time, r.end_time, r.dagster_run.job_name) for r in records)
    assert any(overlapping(a, b) for a, b in itertools.combinations(records, 2)), timeline

    silver = pd.read_csv(local_stack.data_root / "silver" / "silver_data.csv", dtype=str, keep_default_na=False)
    gold = pd.read_csv(local_stack.data_root / "gold" / "gold_data.csv", dtype=str, keep_default_na=False)
    assert len(silver) == 96
    pd.testing.assert_frame_equal(gold, rules.summarize_regions(silver).astype(str))
    assert list(local_stack.data_root.rglob("*.tmp")) == []
