"""Asset checks as plain functions of the frames a step wrote, so tests can feed them bad data."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

if TYPE_CHECKING:
    import pandas as pd

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


def order_id_unique(silver: pd.DataFrame) -> AssetCheckResult:
    duplicated = silver["order_id"].duplicated(keep=False)
    examples = silver.loc[duplicated, "order_id"].drop_duplicates().head(5).tolist()
    return AssetCheckResult(
        check_name="order_id_unique",
        passed=not duplicated.any(),
        metadata={"duplicated_rows": int(duplicated.sum()), "examples": ", ".join(examples) or "none"},
    )


def total_amount_non_negative(silver: pd.DataFrame) -> AssetCheckResult:
    negative = silver["total_amount"].str.startswith("-")
    return AssetCheckResult(
        check_name="total_amount_non_negative",
        passed=not negative.any(),
        metadata={"negative_rows": int(negative.sum())},
    )


def has_rows(silver: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(
        check_name="has_rows",
        passed=not silver.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={"rows": len(silver)},
        description=None if len(silver) else "No bronze row survived the rules; silver and gold are header-only.",
    )


def revenue_matches_silver(silver: pd.DataFrame, gold: pd.DataFrame) -> AssetCheckResult:
    from dagster_project.rules import money_to_cents  # see contract.py: not at definitions load

    silver_cents = int(money_to_cents(silver["total_amount"]).sum()) if len(silver) else 0
    gold_cents = int(money_to_cents(gold["revenue"]).sum()) if len(gold) else 0
    return AssetCheckResult(
        check_name="revenue_matches_silver",
        passed=silver_cents == gold_cents,
        metadata={"silver_total": silver_cents / 100, "gold_revenue": gold_cents / 100},
    )
