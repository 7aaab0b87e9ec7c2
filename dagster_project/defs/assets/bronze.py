"""Bronze: the raw orders file as delivered. Validated and described here, never modified."""

import time

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, asset
from loguru import logger

from dagster_project.contract.code_version import code_version
from dagster_project.contract.log_bridge import loguru_to_dagster
from dagster_project.contract.metadata import FirstRows, describe_csv, human_size
from dagster_project.contract.names import REQUIRED_COLUMNS, LayerFileError
from dagster_project.defs.resources import LayerStorage, bronze_batches, bronze_rejected

# Metadata key of bronze's materializations holding the file's content version (also its data version).
CONTENT_VERSION = "content_version"


# Bronze's data version is the file's content digest: a replaced file makes silver and gold stale in the UI,
# a touched or re-copied identical one does not (the bronze_watch sensor validates a changed file as it lands).
@asset(group_name="bronze", kinds={"csv", "pandas"}, code_version=code_version(__name__))
def bronze_orders(context: AssetExecutionContext, storage: LayerStorage) -> MaterializeResult:
    """Raw orders from bronze/bronze_data.csv: checks the file is a readable CSV with every required
    column and records its size, rows, columns and first rows. The file itself is never touched."""
    with loguru_to_dagster(context):
        started = time.perf_counter()
        bronze = storage.open_bronze()
        # Every row is parsed and checked, but only one column converted: silver converts them all anyway.
        rows = sum(batch.num_rows for batch in bronze_batches(bronze.only(REQUIRED_COLUMNS[:1])))
        if rows == 0:
            raise bronze_rejected(LayerFileError(bronze.path, "has a header but no data rows"))
        head = FirstRows()
        head.add(bronze.head())  # the file parsed in full just above, so its first block does too
        logger.info(
            "read {} ({}): {} rows, {} columns in the header",
            bronze.path,
            human_size(bronze.size_bytes),
            rows,
            len(bronze.header),
        )
        if bronze.ignored_columns:
            logger.warning("ignoring extra column(s) not in the contract: {}", ", ".join(bronze.ignored_columns))
        version = storage.content_version(bronze.path)
        elapsed = time.perf_counter() - started
        logger.success("bronze validated in {:.3f}s (content version {})", elapsed, version)
        return MaterializeResult(
            data_version=DataVersion(version),
            metadata={
                CONTENT_VERSION: version,
                **describe_csv(bronze.path, head.frame(REQUIRED_COLUMNS), {}, bronze.size_bytes, rows),
                "header": ", ".join(bronze.header),
                "ignored_columns": ", ".join(bronze.ignored_columns) or "none",
                "elapsed_seconds": round(elapsed, 3),
            },
        )
