"""Bronze: the raw orders file as delivered. Validated and described here, never modified."""

import time
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, asset
from loguru import logger

from dagster_project.code_version import code_version
from dagster_project.contract import REQUIRED_COLUMNS, LayerFileError
from dagster_project.log_bridge import loguru_to_dagster
from dagster_project.metadata import FirstRows, describe_csv, human_size
from dagster_project.resources import LayerStorage, layer_failure

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

    from dagster_project.csv_io import CsvBatches

# Metadata key of bronze's materializations holding the file's content version (also its data version).
CONTENT_VERSION = "content_version"


def open_bronze(storage: LayerStorage) -> "CsvBatches":
    """The bronze file's checked header and its rows as batches; any problem becomes a Failure naming the file."""
    try:
        path = storage.bronze_path()
        logger.info("reading bronze file {}", path)
        return storage.read_csv_batches(path, REQUIRED_COLUMNS)
    except LayerFileError as error:
        raise _rejected(error) from error


def bronze_batches(bronze: "CsvBatches") -> "Iterator[pa.Table]":
    """The rows of `bronze`; a structural problem found on the way becomes a Failure naming the file and line."""
    try:
        yield from bronze
    except LayerFileError as error:
        raise _rejected(error) from error


def _rejected(error: LayerFileError) -> Exception:
    logger.error("bronze file rejected: {}", error)
    return layer_failure(error, "Bronze")


# Bronze's data version is the file's content digest: a replaced file makes silver and gold stale in the UI,
# a touched or re-copied identical one does not (bronze_watch.py validates a changed file as soon as it lands).
@asset(group_name="bronze", kinds={"csv", "pandas"}, code_version=code_version(__name__))
def bronze_orders(context: AssetExecutionContext, storage: LayerStorage) -> MaterializeResult:
    """Raw orders from bronze/bronze_data.csv: checks the file is a readable CSV with every required
    column and records its size, rows, columns and first rows. The file itself is never touched."""
    with loguru_to_dagster(context):
        started = time.perf_counter()
        bronze = open_bronze(storage)
        # Every row is parsed and checked, but only one column converted: silver converts them all anyway.
        rows = sum(batch.num_rows for batch in bronze_batches(bronze.only(REQUIRED_COLUMNS[:1])))
        if rows == 0:
            raise _rejected(LayerFileError(bronze.path, "has a header but no data rows"))
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
