"""Wires the pipeline into one Definitions object; no logic lives here."""

from dagster import Definitions

from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.debug_executor import debuggable_in_process_executor
from dagster_project.defs.jobs import bronze_to_silver_job, medallion_job, silver_to_gold_job
from dagster_project.defs.resources import LayerStorage, data_root_from_env
from dagster_project.defs.sensors.bronze_watch import bronze_watch
from dagster_project.defs.sensors.run_guard import release_dead_runs

defs = Definitions(
    assets=[bronze_orders, silver_orders, gold_region_sales],
    jobs=[bronze_to_silver_job, silver_to_gold_job, medallion_job],
    sensors=[release_dead_runs, bronze_watch],
    resources={"storage": LayerStorage(root=data_root_from_env())},
    # Every run, whatever launched it, runs its steps in one process: no interpreter start-up per step. A run
    # tagged medallion/debug=true first waits for a debugger (defs/debug_executor.py).
    executor=debuggable_in_process_executor,
)
