"""Asset checks as plain functions of what a step wrote (tallied batch by batch), so tests can feed them bad data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SILVER_CHECKS = (
    AssetCheckSpec("order_id_unique", asset="silver_orders", description="No order_id appears twice."),
    AssetCheckSpec("total_amount_non_negative", asset="silver_orders", description="Every total_amount >= 0."),
    AssetCheckSpec("has_rows", asset="silver_orders", description="Warns when no bronze row survived."),
)
GOLD_CHECKS = (
    AssetCheckSpec(
        "revenue_matches_silver",
        asset="gold_region_sales",
        description="Sum of gold revenue equals the sum of silver total_amount, to the cent.",
    ),
)


class SilverTally:
    """What the silver checks need, gathered batch by batch from the silver rows as they are written: the step
    never holds the whole table, and the checks still see every row."""

    def __init__(self) -> None:
        from dagster_project.contract.rules import SeenIds  # with the step, not the definitions

        self.rows = self.repeated_rows = self.negative_rows = 0
        self.repeated_ids: dict[str, None] = {}  # in order of first repeat
        self._ids = SeenIds()

    def add(self, silver: pa.Table) -> None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = silver["order_id"].cast(pa.string())
        repeats = ~self._ids.first_seen(ids)
        self.rows += silver.num_rows
        self.repeated_rows += int(repeats.sum())
        self.repeated_ids.update(dict.fromkeys(ids.filter(pa.array(repeats)).to_pylist()))
        self.negative_rows += int(np.asarray(pc.starts_with(silver["total_amount"].cast(pa.string()), "-")).sum())


def order_id_unique(silver: SilverTally) -> AssetCheckResult:
    # Rows that share an id with another row, the first of them included.
    duplicated = silver.repeated_rows + len(silver.repeated_ids)
    examples = list(silver.repeated_ids)[:5]
    return AssetCheckResult(
        check_name="order_id_unique",
        passed=duplicated == 0,
        metadata={"duplicated_rows": duplicated, "examples": ", ".join(examples) or "none"},
    )


def total_amount_non_negative(silver: SilverTally) -> AssetCheckResult:
    return AssetCheckResult(
        check_name="total_amount_non_negative",
        passed=silver.negative_rows == 0,
        metadata={"negative_rows": silver.negative_rows},
    )


def has_rows(silver: SilverTally) -> AssetCheckResult:
    return AssetCheckResult(
        check_name="has_rows",
        passed=silver.rows > 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"rows": silver.rows},
        description=None if silver.rows else "No bronze row survived the rules; silver and gold are header-only.",
    )


def silver_cents(total_amounts: pa.ChunkedArray | pd.Series) -> int:
    """Sum of money values in cents, exact: gold revenue for revenue_matches_silver (silver's total comes from
    contract.rules.RegionTotals, which parses it once for both)."""
    from dagster_project.contract.rules import money_to_cents

    return int(money_to_cents(total_amounts).sum()) if len(total_amounts) else 0


def revenue_matches_silver(silver_total_cents: int, gold: pd.DataFrame) -> AssetCheckResult:
    gold_cents = silver_cents(gold["revenue"])
    return AssetCheckResult(
        check_name="revenue_matches_silver",
        passed=silver_total_cents == gold_cents,
        metadata={"silver_total": silver_total_cents / 100, "gold_revenue": gold_cents / 100},
    )
