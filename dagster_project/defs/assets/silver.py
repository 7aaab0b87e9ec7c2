"""Silver: bronze orders trimmed, validated row by row, deduplicated and enriched; rejects kept aside."""

import time

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from loguru import logger

from dagster_project.contract.code_version import code_version
from dagster_project.contract.log_bridge import loguru_to_dagster
from dagster_project.contract.metadata import FirstRows, describe_csv, human_size, preview_markdown
from dagster_project.contract.names import REJECT_COLUMNS, REJECT_REASONS, SILVER_COLUMNS, LayerFileError
from dagster_project.defs import checks
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.resources import LayerStorage, bronze_batches, layer_failure

# Every step that writes silver holds this pool, which the instance limits to one step at a time, whatever
# launched the run (docs/dev-loop.md#every-launch-path-is-as-safe-as-the-jobs).
SILVER_POOL = "medallion/silver"

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
    # pandas and pyarrow load with the step, not with the definitions (docs/architecture.md).
    from dagster_project.contract.rules import OrderCleaner

    with loguru_to_dagster(context):
        started = time.perf_counter()
        try:
            silver_path, rejects_path = storage.silver_path(), storage.rejects_path()
        except LayerFileError as error:
            raise layer_failure(error, "Silver") from error
        bronze = storage.open_bronze()
        logger.info("cleaning bronze rows from {} ({}) batch by batch", bronze.path, human_size(bronze.size_bytes))
        cleaner, tally = OrderCleaner(), checks.SilverTally()
        silver_head, rejects_head = FirstRows(), FirstRows()
        counts = dict.fromkeys(REJECT_REASONS, 0)
        # Batch by batch: memory is bounded by the batch, and a failure on any batch keeps the previous files.
        with (
            storage.csv_writer(silver_path, SILVER_COLUMNS) as silver,
            storage.csv_writer(rejects_path, REJECT_COLUMNS) as rejects,
        ):
            for batch in bronze_batches(bronze):
                cleaned = cleaner.clean_batch(batch)
                silver.write(cleaned.silver)
                rejects.write(cleaned.rejects)
                tally.add(cleaned.silver)
                silver_head.add(cleaned.silver)
                rejects_head.add(cleaned.rejects)
                for reason, count in zip(*reason_counts(cleaned.rejects), strict=True):
                    counts[reason] += count
                logger.debug("cleaned {} bronze rows so far", cleaner.rows_before)
            if cleaner.rows_before == 0:
                no_rows = LayerFileError(bronze.path, "has a header but no data rows")
                logger.error("bronze file rejected: {}", no_rows)
                raise layer_failure(no_rows, "Bronze")
        logger.info("read {} ({}): {} rows", bronze.path, human_size(bronze.size_bytes), cleaner.rows_before)
        for reason, count in counts.items():
            logger.debug("rejected {}: {} rows", reason, count)
        logger.info("{} rows kept, {} rejected", silver.rows, rejects.rows)
        if silver.rows == 0:
            logger.warning("no bronze row survived the rules: silver and gold will be header-only")
        logger.info("wrote {} ({} rows, {})", silver_path, silver.rows, human_size(silver.bytes))
        logger.info("wrote {} ({} rows, {})", rejects_path, rejects.rows, human_size(rejects.bytes))
        elapsed = time.perf_counter() - started
        logger.success("silver done in {:.3f}s", elapsed)

        return MaterializeResult(
            metadata={
                **describe_csv(silver_path, silver_head.frame(SILVER_COLUMNS), SILVER_TYPES, silver.bytes, silver.rows),
                "rejects_path": MetadataValue.path(str(rejects_path)),
                "rejected_rows": rejects.rows,
                **{f"rejected/{reason}": count for reason, count in counts.items()},
                "rejects_preview": MetadataValue.md(preview_markdown(rejects_head.frame(REJECT_COLUMNS))),
                "elapsed_seconds": round(elapsed, 3),
            },
            check_results=[
                checks.order_id_unique(tally),
                checks.total_amount_non_negative(tally),
                checks.has_rows(tally),
            ],
        )


def reason_counts(rejects) -> tuple[list[str], list[int]]:
    counted = rejects["reject_reason"].value_counts()
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()
