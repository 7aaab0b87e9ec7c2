"""The three jobs a user triggers from the UI. They need no tags or run config: the assets hold their layer's
pool themselves, so an ad-hoc *Materialize* is exactly as safe (docs/dev-loop.md)."""

from dagster import AssetSelection, define_asset_job

bronze_to_silver_job = define_asset_job(
    "bronze_to_silver_job",
    selection=AssetSelection.groups("bronze", "silver"),
    description="Validate bronze, then write silver and rejects.",
)
silver_to_gold_job = define_asset_job(
    "silver_to_gold_job",
    selection=AssetSelection.groups("gold"),
    description="Summarize the silver file on disk into gold.",
)
medallion_job = define_asset_job(
    "medallion_job",
    selection=AssetSelection.all(),
    description="Bronze -> silver -> gold in one run.",
)
