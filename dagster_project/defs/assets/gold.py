"""Gold: revenue per region, computed from the silver file on disk."""

import time

from dagster import AssetExecutionContext, MaterializeResult, asset
from loguru import logger

from dagster_project.contract.code_version import code_version
from dagster_project.contract.log_bridge import loguru_to_dagster
from dagster_project.contract.metadata import describe_csv, human_size
from dagster_project.contract.names import SILVER_COLUMNS, LayerFileError
from dagster_project.defs import checks
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage, layer_failure

# As silver's pool (assets/silver.py): one writer of gold at a time.
GOLD_POOL = "medallion/gold"

GOLD_TYPES = {"orders": "integer", "units": "integer", "revenue": "decimal(2)", "avg_order_value": "decimal(2)"}


@asset(
    group_name="gold",
    deps=[silver_orders],
    kinds={"csv", "pandas"},
    check_specs=checks.GOLD_CHECKS,
    pool=GOLD_POOL,
    code_version=code_version(__name__),
)
def gold_region_sales(context: AssetExecutionContext, storage: LayerStorage) -> MaterializeResult:
    """One row per region in gold/gold_data.csv: orders, units, revenue and average order value,
    by revenue descending then region. Reads silver/silver_data.csv, so it runs on its own after
    bronze_to_silver_job."""
    from dagster_project.contract.rules import GOLD_INPUT_COLUMNS, RegionTotals  # with the step, not definitions

    with loguru_to_dagster(context):
        started = time.perf_counter()
        totals, rows = RegionTotals(), 0
        try:
            silver_path, gold_path = storage.silver_path(), storage.gold_path()
            logger.info("reading silver file {}", silver_path)
            # The header must be exactly silver's; only the columns gold needs are loaded, batch by batch.
            silver = storage.read_csv_batches(silver_path, GOLD_INPUT_COLUMNS, expected_header=SILVER_COLUMNS)
            for batch in silver:
                totals.add(batch)
                rows += batch.num_rows
            gold = totals.frame()
        except (LayerFileError, ValueError) as error:
            if not isinstance(error, LayerFileError):
                error = LayerFileError(silver_path, f"has a value that is not valid silver data ({error})")
            logger.error("silver file rejected: {}", error)
            raise layer_failure(error, "Silver", "Run bronze_to_silver_job to rebuild it.") from error
        logger.info(
            "read {} ({}): {} rows, {} columns", silver_path, human_size(silver.size_bytes), rows, len(silver.header)
        )
        logger.info("{} regions summarized", len(gold))

        gold_bytes = storage.write_csv(gold, gold_path)
        logger.info("wrote {} ({} rows, {})", gold_path, len(gold), human_size(gold_bytes))
        elapsed = time.perf_counter() - started
        logger.success("gold done in {:.3f}s", elapsed)
        return MaterializeResult(
            metadata={
                **describe_csv(gold_path, gold, GOLD_TYPES, gold_bytes),
                "elapsed_seconds": round(elapsed, 3),
            },
            check_results=[checks.revenue_matches_silver(totals.silver_cents, gold)],
        )
