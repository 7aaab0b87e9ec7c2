"""The three jobs a user triggers from the UI. Writers of a layer are serialized by the layer's concurrency pool
on the assets themselves (contract.py), so these jobs need no tags and no run config of their own: an ad-hoc
*Materialize* from the asset graph is exactly as safe."""

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
