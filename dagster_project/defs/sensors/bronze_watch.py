"""Validates bronze as soon as its file changes, so the UI marks silver and gold stale without a manual run
(docs/dev-loop.md#what-an-edit-made-stale)."""

from __future__ import annotations

import json

from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from dagster_project.defs.assets.bronze import CONTENT_VERSION, bronze_orders
from dagster_project.defs.resources import LayerStorage

CHECK_INTERVAL_SECONDS = 1
# While any run is queued or in progress the check waits: that run may validate bronze itself, and a second
# parse of a large file would halve the speed of the run the user is waiting for.
BUSY = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def last_validation(context: SensorEvaluationContext) -> tuple[str, str] | None:
    """The content version bronze's latest materialization recorded, and the id of the run that made it."""
    event = context.instance.get_latest_materialization_event(AssetKey("bronze_orders"))
    entry = event.asset_materialization.metadata.get(CONTENT_VERSION) if event and event.asset_materialization else None
    return (str(entry.value), event.run_id) if entry else None


@sensor(
    name="bronze_watch",
    asset_selection=[bronze_orders],
    minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Validates bronze when its file changes, so silver and gold show as unsynced.",
)
def bronze_watch(context: SensorEvaluationContext, storage: LayerStorage):
    if context.instance.get_run_records(RunsFilter(statuses=BUSY), limit=1):
        return SkipReason("a run is queued or in progress; bronze is checked when it ends")
    path = storage.bronze_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return SkipReason(f"no bronze file at {path}")
    # The file is hashed again only when its inode, size or modification time changed since the last tick.
    identity = f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
    seen = json.loads(context.cursor) if context.cursor else {}
    version = seen.get("version") if seen.get("identity") == identity else storage.content_version(path)
    cursor = json.dumps({"identity": identity, "version": version})
    validated = last_validation(context)
    if validated is None:  # before bronze's first materialization everything is missing anyway
        return SensorResult(skip_reason="bronze has not been materialized yet", cursor=cursor)
    recorded, by_run = validated
    if recorded == version:
        return SensorResult(skip_reason=f"bronze unchanged (content version {version})", cursor=cursor)
    context.log.info(f"{path} changed: content version {version}, last validated {recorded} by run {by_run}")
    # One request per (content, last validation): ticks during the bronze run do not request a second one, and
    # a file changed back to an earlier content is validated again.
    return SensorResult(run_requests=[RunRequest(run_key=f"{version}-after-{by_run}")], cursor=cursor)
