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
    path: Path, frame: pd.DataFrame, column_types: Mapping[str, str], size_bytes: int
) -> dict[str, object]:
    return {
        "path": MetadataValue.path(str(path)),
        "dagster/row_count": len(frame),
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(name, column_types.get(name, "string")) for name in frame.columns]
        ),
        "size_bytes": size_bytes,
        "preview": MetadataValue.md(preview_markdown(frame)),
    }


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
