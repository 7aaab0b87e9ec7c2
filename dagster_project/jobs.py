"""The three jobs a user triggers from the UI; tags let the run queue serialize writers of a layer."""

from dagster import AssetSelection, define_asset_job

# QueuedRunCoordinator limits each of these tag keys to one run at a time (dagster_home/dagster.yaml and
# helm/values.yaml), so two runs never write the same layer at once.
WRITES_SILVER = {"medallion/writes-silver": "true"}
WRITES_GOLD = {"medallion/writes-gold": "true"}

# Default run config, editable in the launchpad:
# - steps share one process: no per-step interpreter start-up, and silver reuses the table bronze parsed
#   (switch with {"execution": {"config": {"multiprocess": {}}}});
# - Dagster only starts the job's own "console" logger when run config names it; otherwise it falls back
#   to its colored stderr logger, which would repeat every bridged loguru line.
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}, "loggers": {"console": {}}}

bronze_to_silver_job = define_asset_job(
    "bronze_to_silver_job",
    selection=AssetSelection.groups("bronze", "silver"),
    description="Validate bronze, then write silver and rejects.",
    tags=WRITES_SILVER,
    config=RUN_CONFIG,
)
silver_to_gold_job = define_asset_job(
    "silver_to_gold_job",
    selection=AssetSelection.groups("gold"),
    description="Summarize the silver file on disk into gold.",
    tags=WRITES_GOLD,
    config=RUN_CONFIG,
)
medallion_job = define_asset_job(
    "medallion_job",
    selection=AssetSelection.all(),
    description="Bronze -> silver -> gold in one run.",
    tags={**WRITES_SILVER, **WRITES_GOLD},
    config=RUN_CONFIG,
)
