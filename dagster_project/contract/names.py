"""Names the definitions and the dev-loop tools share: the columns of each layer file, the reject reasons, the
debug-run tag and port; and the error for a layer file that cannot be used. Imports nothing heavy."""

from pathlib import Path

REQUIRED_COLUMNS = (
    "order_id",
    "order_date",
    "customer_id",
    "region",
    "product",
    "category",
    "quantity",
    "unit_price",
)
SILVER_COLUMNS = (*REQUIRED_COLUMNS, "total_amount", "order_month")
REJECT_COLUMNS = (*REQUIRED_COLUMNS, "source_row", "reject_reason")
GOLD_COLUMNS = ("region", "orders", "units", "revenue", "avg_order_value")

# Checked in this order; a row carries the first reason it fails.
REJECT_REASONS = (
    "missing_order_id",
    "missing_region",
    "invalid_order_date",
    "invalid_quantity",
    "invalid_unit_price",
    "duplicate_order_id",
)

# A run tagged DEBUG_TAG=true waits for a debugger on DEBUG_PORT (env) before its first step (docs/debugging.md).
DEBUG_TAG = "medallion/debug"
# debugpy's and VS Code's usual port; project.env's DEBUG_PORT says the same (tests check it).
DEFAULT_DEBUG_PORT = 5678


class LayerFileError(ValueError):
    """A layer file that cannot be used; the message names the file and the problem in plain words."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
