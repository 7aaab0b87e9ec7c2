"""The names of the data contract, and the error for a layer file that cannot be used.

Kept free of pandas and pyarrow: the asset modules import it when Dagster loads definitions, which happens on
every code reload and every run-worker start, so everything imported here is paid for on each edit.
"""

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


# Concurrency pools: every step that writes a layer holds its layer's pool. The instance limits each pool to one
# step at a time (dagster_home/dagster.yaml and helm/values.yaml: concurrency.pools.default_limit = 1), whatever
# launched the run: a job, Materialize in the UI, a re-execution, a sensor or `dg launch --assets`.
SILVER_POOL = "medallion/silver"
GOLD_POOL = "medallion/gold"


class LayerFileError(ValueError):
    """A layer file that cannot be used; the message names the file and the problem in plain words."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
