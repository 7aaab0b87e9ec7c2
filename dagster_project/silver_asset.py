"""Silver: bronze orders trimmed, validated row by row, deduplicated and enriched; rejects kept aside."""

import time

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from loguru import logger

from dagster_project import checks
from dagster_project.bronze_asset import bronze_orders, load_bronze
from dagster_project.code_version import code_version
from dagster_project.contract import SILVER_POOL, LayerFileError
from dagster_project.log_bridge import loguru_to_dagster
from dagster_project.metadata import describe_csv, human_size, preview_markdown
from dagster_project.resources import LayerStorage, layer_failure

SILVER_TYPES = {
    "order_date": "date (YYYY-MM-DD)",
    "quantity": "integer >= 1",
    "unit_price": "decimal",
    "total_amount": "decimal(2)",
    "order_month": "YYYY-MM",
}


@asset(
    group_name="silver",
    deps=[bronze_orders],
    kinds={"csv", "pandas"},
    check_specs=checks.SILVER_CHECKS,
    pool=SILVER_POOL,
    code_version=code_version(__name__),
)
def silver_orders(context: AssetExecutionContext, storage: LayerStorage) -> MaterializeResult:
    """Cleaned orders in silver/silver_data.csv and rejected rows, with their reason, in
    silver/rejected_rows.csv. Values are trimmed, region is title-cased, total_amount = quantity x
    unit_price (exact, 2 decimals) and order_month = YYYY-MM; rows keep bronze order."""
    # pandas and pyarrow load with the step, not with the definitions (see contract.py).
    import pyarrow as pa

    from dagster_project.rules import clean_orders

    with loguru_to_dagster(context):
        started = time.perf_counter()
        try:
            silver_path, rejects_path = storage.silver_path(), storage.rejects_path()
        except LayerFileError as error:
            raise layer_failure(error, "Silver") from error
        bronze = load_bronze(storage)
        logger.info("cleaning {} bronze rows", len(bronze.frame))
        result = clean_orders(bronze.frame)
        # The raw table is not needed past this point; at 10M rows it is most of a gigabyte.
        del bronze
        pa.default_memory_pool().release_unused()
        counts = result.reject_counts()
        for reason, count in counts.items():
            logger.debug("rejected {}: {} rows", reason, count)
        logger.info("{} rows kept, {} rejected", len(result.silver), len(result.rejects))
        if result.silver.empty:
            logger.warning("no bronze row survived the rules: silver and gold will be header-only")

        silver_bytes = storage.write_csv(result.silver, silver_path)
        logger.info("wrote {} ({} rows, {})", silver_path, len(result.silver), human_size(silver_bytes))
        rejects_bytes = storage.write_csv(result.rejects, rejects_path)
        logger.info("wrote {} ({} rows, {})", rejects_path, len(result.rejects), human_size(rejects_bytes))
        elapsed = time.perf_counter() - started
        logger.success("silver done in {:.3f}s", elapsed)

        return MaterializeResult(
            metadata={
                **describe_csv(silver_path, result.silver, SILVER_TYPES, silver_bytes),
                "rejects_path": MetadataValue.path(str(rejects_path)),
                "rejected_rows": len(result.rejects),
                **{f"rejected/{reason}": count for reason, count in counts.items()},
                "rejects_preview": MetadataValue.md(preview_markdown(result.rejects)),
                "elapsed_seconds": round(elapsed, 3),
            },
            check_results=[
                checks.order_id_unique(result.silver),
                checks.total_amount_non_negative(result.silver),
                checks.has_rows(result.silver),
            ],
        )
