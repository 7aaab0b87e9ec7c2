"""What each layer shows in the Dagster UI: where its file is, how big, its schema and its first rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import MetadataValue, TableColumn, TableSchema

if TYPE_CHECKING:
    import pandas as pd

PREVIEW_ROWS = 10


def describe_csv(
    path: Path, frame: pd.DataFrame, column_types: Mapping[str, str], size_bytes: int, rows: int | None = None
) -> dict[str, object]:
    """`frame` is the file's content or, for files written in batches, its first rows with `rows` the total."""
    return {
        "path": MetadataValue.path(str(path)),
        "dagster/row_count": len(frame) if rows is None else rows,
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(name, column_types.get(name, "string")) for name in frame.columns]
        ),
        "size_bytes": size_bytes,
        "preview": MetadataValue.md(preview_markdown(frame)),
    }


class FirstRows:
    """The first PREVIEW_ROWS rows of a file written in batches, for its preview."""

    def __init__(self) -> None:
        self._tables: list = []
        self._rows = 0

    def add(self, table) -> None:
        if self._rows < PREVIEW_ROWS:
            self._tables.append(table.slice(0, PREVIEW_ROWS - self._rows))
            self._rows += self._tables[-1].num_rows

    def frame(self, columns) -> pd.DataFrame:
        import pandas as pd
        import pyarrow as pa

        schema = pa.schema([(name, pa.string()) for name in columns])
        tables = [schema.empty_table(), *(t.select(list(columns)).cast(schema) for t in self._tables)]
        return pa.concat_tables(tables).to_pandas(types_mapper=pd.ArrowDtype)


def preview_markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return f"_no rows_ (columns: {', '.join(map(str, frame.columns))})"
    return frame.head(PREVIEW_ROWS).to_markdown(index=False)


def human_size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
