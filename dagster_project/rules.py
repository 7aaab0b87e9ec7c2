"""The data contract as plain functions on DataFrames: bronze orders -> silver + rejects -> gold.

Every value is a string until a rule proves it is a number. Money is exact: prices and totals are carried
as integer cents (Python ints where int64 could overflow) and rounded half-up, never through floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

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

ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DIGITS = r"[0-9]+"
PRICE = r"[0-9]+(?:\.[0-9]+)?"
INT64_MAX = str(np.iinfo(np.int64).max)
# quantity * price_cents stays inside int64 when their digit counts sum to at most this.
INT64_SAFE_DIGITS = 18
CENT = Decimal("0.01")


@dataclass(frozen=True)
class CleanResult:
    silver: pd.DataFrame
    rejects: pd.DataFrame

    def reject_counts(self) -> dict[str, int]:
        counts = self.rejects["reject_reason"].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in REJECT_REASONS}


def trim_all(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.apply(lambda column: column.str.strip())


def real_iso_dates(dates: pd.Series) -> pd.Series:
    """True where the value is YYYY-MM-DD and names a day that exists (proleptic Gregorian, year >= 1)."""
    shaped = dates.str.fullmatch(ISO_DATE).to_numpy(dtype=bool)
    valid = np.zeros(len(dates), dtype=bool)
    if not shaped.any():
        return pd.Series(valid, index=dates.index)
    candidates = dates[shaped]
    year = candidates.str.slice(0, 4).astype("int64").to_numpy()
    month = candidates.str.slice(5, 7).astype("int64").to_numpy()
    day = candidates.str.slice(8, 10).astype("int64").to_numpy()
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    days_in_month = month_days[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid[shaped] = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    return pd.Series(valid, index=dates.index)


def positive_int64_quantities(quantities: pd.Series) -> pd.Series:
    """True where the value is ASCII digits only, at least 1 and representable as int64."""
    digits_only = quantities.str.fullmatch(DIGITS).to_numpy(dtype=bool)
    significant = quantities.str.lstrip("0")
    length = significant.str.len().to_numpy()
    fits = (length < len(INT64_MAX)) | ((length == len(INT64_MAX)) & (significant <= INT64_MAX).to_numpy())
    return pd.Series(digits_only & (length >= 1) & fits, index=quantities.index)


def reject_reasons(orders: pd.DataFrame) -> pd.Series:
    """First failing reason per trimmed row, or "" where the row survives."""
    failures = [
        orders["order_id"].eq("").to_numpy(),
        orders["region"].eq("").to_numpy(),
        ~real_iso_dates(orders["order_date"]).to_numpy(),
        ~positive_int64_quantities(orders["quantity"]).to_numpy(),
        ~orders["unit_price"].str.fullmatch(PRICE).to_numpy(dtype=bool),
    ]
    reasons = np.select(failures, REJECT_REASONS[: len(failures)], default="")
    survivors = reasons == ""
    # Duplicates are judged among survivors only: a rejected row never shadows a later valid one.
    repeated = orders["order_id"][survivors].duplicated(keep="first").to_numpy()
    survivor_positions = np.flatnonzero(survivors)
    reasons[survivor_positions[repeated]] = "duplicate_order_id"
    return pd.Series(reasons, index=orders.index)


def decimal_to_cents(values: pd.Series) -> pd.Series:
    """Exact cents for strings matching PRICE with at most two decimals (the silver/gold money columns)."""
    whole, _, fraction = _split_decimal(values)
    if (fraction.str.len() > 2).any():
        raise ValueError("money values must have at most two decimals")
    hundredths = fraction.str.pad(2, side="right", fillchar="0")
    if (whole.str.len() <= INT64_SAFE_DIGITS - 2).all():
        return whole.astype("int64") * 100 + hundredths.astype("int64")
    return pd.Series(
        [int(w) * 100 + int(h) for w, h in zip(whole, hundredths, strict=True)], index=values.index, dtype=object
    )


def line_totals_cents(quantities: pd.Series, prices: pd.Series) -> pd.Series:
    """quantity x unit_price in cents, rounded half-up; int64 on the fast path, exact Decimal elsewhere."""
    whole, _, fraction = _split_decimal(prices)
    fast = (fraction.str.len() <= 2) & (
        quantities.str.lstrip("0").str.len() + whole.str.lstrip("0").str.len() + 2 <= INT64_SAFE_DIGITS
    )
    fast_np = fast.to_numpy(dtype=bool)
    quantity = quantities[fast_np].astype("int64").to_numpy()
    price_cents = (
        whole[fast_np].astype("int64").to_numpy() * 100
        + fraction[fast_np].str.pad(2, side="right", fillchar="0").astype("int64").to_numpy()
    )
    if fast_np.all():
        return pd.Series(quantity * price_cents, index=quantities.index)
    cents = np.empty(len(quantities), dtype=object)
    cents[fast_np] = (quantity * price_cents).tolist()
    slow = ~fast_np
    cents[slow] = [
        int((Decimal(q) * Decimal(p)).quantize(CENT, rounding=ROUND_HALF_UP) * 100)
        for q, p in zip(quantities[slow], prices[slow], strict=True)
    ]
    return pd.Series(cents, index=quantities.index)


def format_cents(cents: pd.Series) -> pd.Series:
    """Integer cents -> "123.45" with exactly two decimals."""
    if cents.empty:
        return pd.Series([], dtype="str", index=cents.index)
    units = (cents // 100).astype("str")
    hundredths = (cents % 100).astype("str").str.pad(2, side="left", fillchar="0")
    return units + "." + hundredths


def clean_orders(orders: pd.DataFrame) -> CleanResult:
    """Bronze orders (required columns as strings, file order) -> silver rows and rejected rows."""
    trimmed = trim_all(orders.loc[:, list(REQUIRED_COLUMNS)]).reset_index(drop=True)
    reasons = reject_reasons(trimmed)
    keep = (reasons == "").to_numpy()

    rejects = trimmed[~keep].copy()
    rejects["source_row"] = np.flatnonzero(~keep) + 1
    rejects["reject_reason"] = reasons[~keep].astype("str")

    silver = trimmed[keep].copy()
    silver["region"] = silver["region"].str.title()
    silver["total_amount"] = format_cents(line_totals_cents(silver["quantity"], silver["unit_price"]))
    silver["order_month"] = silver["order_date"].str.slice(0, 7)
    return CleanResult(
        silver=silver.reset_index(drop=True).loc[:, list(SILVER_COLUMNS)],
        rejects=rejects.reset_index(drop=True).loc[:, list(REJECT_COLUMNS)],
    )


def summarize_regions(silver: pd.DataFrame) -> pd.DataFrame:
    """Silver rows -> one row per region, by revenue descending then region ascending."""
    per_row = pd.DataFrame(
        {
            "region": silver["region"],
            "units": silver["quantity"].astype("int64") if len(silver) else pd.Series([], dtype="int64"),
            "cents": decimal_to_cents(silver["total_amount"]) if len(silver) else pd.Series([], dtype="int64"),
        }
    )
    grouped = per_row.groupby("region", sort=False).agg(
        orders=("region", "size"), units=("units", "sum"), cents=("cents", "sum")
    )
    grouped = grouped.reset_index().sort_values(["cents", "region"], ascending=[False, True], kind="stable")
    orders = grouped["orders"].astype("int64")
    # Half-up division on integers keeps the average exact: floor((2 * cents + n) / 2n).
    average_cents = (2 * grouped["cents"] + orders) // (2 * orders)
    gold = pd.DataFrame(
        {
            "region": grouped["region"].astype("str"),
            "orders": orders,
            "units": grouped["units"].astype("int64"),
            "revenue": format_cents(grouped["cents"]),
            "avg_order_value": format_cents(average_cents),
        }
    )
    return gold.reset_index(drop=True)


def _split_decimal(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    if values.empty:
        return values, values, values
    parts = values.str.partition(".")
    return parts[0], parts[1], parts[2]
