"""Bronze: the raw orders file as delivered. Validated and described here, never modified."""

import time
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, asset
from loguru import logger

from dagster_project.code_version import code_version
from dagster_project.contract import REQUIRED_COLUMNS, LayerFileError
from dagster_project.log_bridge import loguru_to_dagster
from dagster_project.metadata import describe_csv, human_size
from dagster_project.resources import LayerStorage, layer_failure

if TYPE_CHECKING:
    from dagster_project.csv_io import CsvTable

# Metadata key of bronze's materializations holding the file's content version (also its data version).
CONTENT_VERSION = "content_version"

# With the in-process executor the silver step runs right after bronze in the same process; handing it the
# parsed table saves a second parse. Keyed by the file's identity, so a changed file is always re-read.
_parsed: dict[tuple, "CsvTable"] = {}


def load_bronze(storage: LayerStorage, *, keep_for_next_step: bool = False) -> "CsvTable":
    """Parse the bronze file strictly; any problem becomes a Failure naming the file, shown in the UI."""
    try:
        path = storage.bronze_path()
        identity = _identity(path)
        table = _parsed.pop(identity, None) if identity is not None else None
        if table is not None:
            logger.debug("reusing the table the bronze step parsed from {}", path)
        else:
            logger.info("reading bronze file {}", path)
            table = storage.read_csv(path, REQUIRED_COLUMNS)
        if table.frame.empty:
            raise LayerFileError(path, "has a header but no data rows")
    except LayerFileError as error:
        logger.error("bronze file rejected: {}", error)
        raise layer_failure(error, "Bronze") from error
    logger.info(
        "read {} ({}): {} rows, {} columns in the header",
        table.path,
        human_size(table.size_bytes),
        len(table.frame),
        len(table.header),
    )
    _parsed.clear()
    if keep_for_next_step and identity is not None:
        _parsed[identity] = table
    return table


def _identity(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


# Bronze's data version is the file's content digest: a replaced file makes silver and gold stale in the UI,
# a touched or re-copied identical one does not (bronze_watch.py validates a changed file as soon as it lands).
@asset(group_name="bronze", kinds={"csv", "pandas"}, code_version=code_version(__name__))
def bronze_orders(context: AssetExecutionContext, storage: LayerStorage) -> MaterializeResult:
    """Raw orders from bronze/bronze_data.csv: checks the file is a readable CSV with every required
    column and records its size, rows, columns and first rows. The file itself is never touched."""
    with loguru_to_dagster(context):
        started = time.perf_counter()
        table = load_bronze(storage, keep_for_next_step=True)
        if table.ignored_columns:
            logger.warning("ignoring extra column(s) not in the contract: {}", ", ".join(table.ignored_columns))
        version = storage.content_version(table.path)
        elapsed = time.perf_counter() - started
        logger.success("bronze validated in {:.3f}s (content version {})", elapsed, version)
        return MaterializeResult(
            data_version=DataVersion(version),
            metadata={
                CONTENT_VERSION: version,
                **describe_csv(table.path, table.frame, {}, table.size_bytes),
                "header": ", ".join(table.header),
                "ignored_columns": ", ".join(table.ignored_columns) or "none",
                "elapsed_seconds": round(elapsed, 3),
            },
        )
