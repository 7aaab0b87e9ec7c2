"""Storage of the three layers: the only place that knows where files live, and the way in and out of them for
the assets (docs/data-contract.md)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dagster import ConfigurableResource, Failure, MetadataValue
from loguru import logger
from pydantic import Field, field_validator

from dagster_project.contract.names import REQUIRED_COLUMNS, LayerFileError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    import pyarrow as pa

    from dagster_project.contract.csv_io import AtomicCsvWriter, CsvBatches

DEFAULT_DATA_ROOT = "/data"
Layer = Literal["bronze", "silver", "gold"]


def data_root_from_env() -> str:
    return os.environ.get("DATA_ROOT", DEFAULT_DATA_ROOT)


class LayerStorage(ConfigurableResource):
    """Reads bronze and writes silver and gold as CSV under one root; bronze is never written."""

    root: str = Field(description="Directory holding bronze/, silver/ and gold/ (env DATA_ROOT).")
    bronze_file: str = Field(default="bronze_data.csv", description="Raw orders in bronze/.")
    silver_file: str = Field(default="silver_data.csv", description="Cleaned orders in silver/.")
    rejects_file: str = Field(default="rejected_rows.csv", description="Rejected bronze rows in silver/.")
    gold_file: str = Field(default="gold_data.csv", description="Per-region summary in gold/.")

    @field_validator("bronze_file", "silver_file", "rejects_file", "gold_file")
    @classmethod
    def _plain_file_name(cls, name: str) -> str:
        if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
            raise ValueError(f"{name!r} must be a plain file name inside its layer directory")
        return name

    def layer_dir(self, layer: Layer) -> Path:
        return Path(self.root) / layer

    def bronze_path(self) -> Path:
        return self._inside(self.layer_dir("bronze"), self.bronze_file)

    def silver_path(self) -> Path:
        return self._inside(self.layer_dir("silver"), self.silver_file)

    def rejects_path(self) -> Path:
        return self._inside(self.layer_dir("silver"), self.rejects_file)

    def gold_path(self) -> Path:
        return self._inside(self.layer_dir("gold"), self.gold_file)

    def open_bronze(self) -> CsvBatches:
        """The bronze file's checked header and its rows as batches; any problem fails the step, naming the file."""
        try:
            path = self.bronze_path()
            logger.info("reading bronze file {}", path)
            return self.read_csv_batches(path, REQUIRED_COLUMNS)
        except LayerFileError as error:
            raise bronze_rejected(error) from error

    def read_csv_batches(
        self, path: Path, columns: tuple[str, ...], *, expected_header: tuple[str, ...] | None = None
    ) -> CsvBatches:
        from dagster_project.contract import csv_io  # pandas and pyarrow load with the first step, not definitions

        return csv_io.open_csv_batches(path, columns, expected_header=expected_header)

    def write_csv(self, frame: pd.DataFrame, path: Path) -> int:
        self._refuse_bronze(path)
        from dagster_project.contract import csv_io  # as in read_csv_batches

        return csv_io.write_csv_atomic(frame, path)

    def csv_writer(self, path: Path, columns: tuple[str, ...]) -> AtomicCsvWriter:
        """A file written batch by batch that replaces `path` only once complete (see csv_io.AtomicCsvWriter)."""
        self._refuse_bronze(path)
        from dagster_project.contract import csv_io  # as in read_csv_batches

        return csv_io.AtomicCsvWriter(path, columns)

    def _refuse_bronze(self, path: Path) -> None:
        if self._is_within(path, self.layer_dir("bronze")):
            raise LayerFileError(path, "is in bronze, which this pipeline never writes")

    def content_version(self, path: Path) -> str:
        """A digest of the file's bytes: the data version that tells a replaced file from the one before."""
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()[:16]

    @staticmethod
    def _is_within(path: Path, directory: Path) -> bool:
        return path.resolve().is_relative_to(directory.resolve())

    def _inside(self, directory: Path, name: str) -> Path:
        path = directory / name
        if path.resolve().parent != directory.resolve():
            raise LayerFileError(path, f"resolves to {path.resolve()}, outside its layer directory {directory}")
        return path


def layer_failure(error: LayerFileError, layer: str, hint: str = "") -> Failure:
    """The step failure a user sees in the UI: which file, what is wrong with it, what to do."""
    return Failure(
        description=f"{layer} file {error.path} cannot be used: {error.problem}{f'. {hint}' if hint else ''}",
        metadata={"path": MetadataValue.path(str(error.path)), "problem": error.problem},
    )


def bronze_batches(bronze: CsvBatches) -> Iterator[pa.Table]:
    """The rows of `bronze`; a structural problem found on the way fails the step, naming the file and line."""
    try:
        yield from bronze
    except LayerFileError as error:
        raise bronze_rejected(error) from error


def bronze_rejected(error: LayerFileError) -> Failure:
    logger.error("bronze file rejected: {}", error)
    return layer_failure(error, "Bronze")
