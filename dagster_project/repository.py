"""Wires the pipeline into one Definitions object; no logic lives here."""

from dagster import Definitions

from dagster_project.bronze_asset import bronze_orders
from dagster_project.bronze_watch import bronze_watch
from dagster_project.debug_run import debuggable_in_process_executor
from dagster_project.gold_asset import gold_region_sales
from dagster_project.jobs import bronze_to_silver_job, medallion_job, silver_to_gold_job
from dagster_project.resources import LayerStorage, data_root_from_env
from dagster_project.run_guard import release_dead_runs
from dagster_project.silver_asset import silver_orders

defs = Definitions(
    assets=[bronze_orders, silver_orders, gold_region_sales],
    jobs=[bronze_to_silver_job, silver_to_gold_job, medallion_job],
    sensors=[release_dead_runs, bronze_watch],
    resources={"storage": LayerStorage(root=data_root_from_env())},
    # Every run, whatever launched it, runs its steps in one process: no interpreter start-up per step. A run
    # tagged medallion/debug=true first waits for a debugger (debug_run.py).
    executor=debuggable_in_process_executor,
)
