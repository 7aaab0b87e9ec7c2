"""Wires the pipeline into one Definitions object; no logic lives here."""

from dagster import Definitions

from dagster_project.bronze_asset import bronze_orders
from dagster_project.gold_asset import gold_region_sales
from dagster_project.jobs import bronze_to_silver_job, medallion_job, silver_to_gold_job
from dagster_project.log_bridge import plain_console_logger
from dagster_project.resources import LayerStorage, data_root_from_env
from dagster_project.silver_asset import silver_orders

defs = Definitions(
    assets=[bronze_orders, silver_orders, gold_region_sales],
    jobs=[bronze_to_silver_job, silver_to_gold_job, medallion_job],
    resources={"storage": LayerStorage(root=data_root_from_env())},
    loggers={"console": plain_console_logger},
)
