"""pandas in and out of the contract's Arrow code, for tests that state rows as small frames: the pipeline itself
streams Arrow batches and never holds a whole file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dagster_project.contract.csv_io import open_csv_batches
from dagster_project.contract.names import REJECT_REASONS, REQUIRED_COLUMNS
from dagster_project.contract.rules import GOLD_INPUT_COLUMNS, OrderCleaner, RegionTotals
from dagster_project.defs.checks import SilverTally


@dataclass(frozen=True)
class Cleaned:
    silver: pd.DataFrame
    rejects: pd.DataFrame

    def reject_counts(self) -> dict[str, int]:
        counts = self.rejects["reject_reason"].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in REJECT_REASONS}


def clean_orders(orders: pd.DataFrame) -> Cleaned:
    """Bronze orders (required columns as strings, file order) -> silver rows and rejected rows, in one batch."""
    cleaned = OrderCleaner().clean_batch(arrow(orders, REQUIRED_COLUMNS))
    return Cleaned(silver=frame_of(cleaned.silver), rejects=frame_of(cleaned.rejects))


def summarize_regions(silver: pd.DataFrame) -> pd.DataFrame:
    """Silver rows -> gold, one row per region."""
    totals = RegionTotals()
    totals.add(arrow(silver, GOLD_INPUT_COLUMNS))
    return totals.frame()


def tally_of(silver: pd.DataFrame) -> SilverTally:
    """What the silver checks see of these rows."""
    tally = SilverTally()
    tally.add(pa.Table.from_pandas(silver, preserve_index=False))
    return tally


def read_csv_columns(path: Path, wanted: tuple[str, ...]) -> pd.DataFrame:
    """`wanted` of a layer file as one frame of strings, read and checked as the pipeline reads it."""
    schema = pa.schema([(name, pa.string()) for name in wanted])
    return frame_of(pa.concat_tables([schema.empty_table(), *open_csv_batches(path, wanted)]))


def arrow(frame: pd.DataFrame, columns: tuple[str, ...]) -> pa.Table:
    return pa.Table.from_pandas(frame.loc[:, list(columns)], preserve_index=False).cast(
        pa.schema([(name, pa.string()) for name in columns])
    )


def frame_of(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)
