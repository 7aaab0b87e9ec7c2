"""The data contract as plain functions on DataFrames: bronze orders -> silver + rejects -> gold.

Frames are Arrow-backed and the row rules are vectorized with pyarrow.compute. Every value is a string until a
rule proves it is a number. Money is exact: prices and totals are carried as integer cents (Python ints where
int64 could overflow) and rounded half-up, never through floats.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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

ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DIGITS = r"^[0-9]+$"
PRICE = r"^(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?$"
MONEY_WITH_SIGN = r"^(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?$"
INT64_MAX = str(np.iinfo(np.int64).max)
# Products of numbers with at most this many digits in total stay inside int64.
INT64_SAFE_DIGITS = 18
CENT = Decimal("0.01")
# Exactly the characters Python's str.strip() removes, so trimming means what it means in plain Python;
# the ASCII subset takes the faster byte-wise path on columns that are pure ASCII (nearly always).
WHITESPACE = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())
ASCII_WHITESPACE = "".join(char for char in WHITESPACE if char.isascii())
MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class CleanResult:
    silver: pd.DataFrame
    rejects: pd.DataFrame

    def reject_counts(self) -> dict[str, int]:
        counts = self.rejects["reject_reason"].value_counts()
        return {reason: int(counts.get(reason, 0)) for reason in REJECT_REASONS}


def clean_orders(orders: pd.DataFrame) -> CleanResult:
    """Bronze orders (required columns as strings, file order) -> silver rows and rejected rows."""
    table = _to_arrow(orders, REQUIRED_COLUMNS)
    trimmed = pa.table({name: trim(table[name]) for name in REQUIRED_COLUMNS})
    reasons = reject_reasons(trimmed)
    rejected = reasons > 0

    rejects = trimmed.filter(pa.array(rejected)).append_column(
        "source_row", pa.array(np.flatnonzero(rejected) + 1, pa.int64())
    )
    reason_names = pa.array(["", *REJECT_REASONS], pa.string())
    rejects = rejects.append_column("reject_reason", reason_names.take(pa.array(reasons[rejected])))

    silver = trimmed.filter(pa.array(~rejected))
    silver = silver.set_column(silver.schema.get_field_index("region"), "region", title_case(silver["region"]))
    totals = line_totals_cents(silver["quantity"], silver["unit_price"])
    silver = silver.append_column("total_amount", format_cents(totals))
    silver = silver.append_column("order_month", pc.utf8_slice_codeunits(silver["order_date"], 0, 7))
    return CleanResult(silver=_to_pandas(silver), rejects=_to_pandas(rejects))


def trim(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if pc.all(pc.string_is_ascii(values)).as_py() is not False:
        return pc.ascii_trim(values, ASCII_WHITESPACE)
    return pc.utf8_trim(values, WHITESPACE)


def reject_reasons(orders: pa.Table) -> np.ndarray:
    """Per trimmed row, 0 where it survives, else 1 + the index in REJECT_REASONS of its first failure."""
    failures = [
        _numpy(pc.equal(orders["order_id"], "")),
        _numpy(pc.equal(orders["region"], "")),
        ~real_iso_dates(orders["order_date"]),
        ~positive_int64_quantities(orders["quantity"]),
        ~_numpy(pc.match_substring_regex(orders["unit_price"], PRICE)),
    ]
    reasons = np.zeros(len(orders), dtype=np.int8)
    for code, failed in reversed(list(enumerate(failures, start=1))):
        reasons[failed] = code
    survivors = np.flatnonzero(reasons == 0)
    # Duplicates are judged among survivors only: a rejected row never shadows a later valid one.
    repeated = ~first_occurrence(orders["order_id"].take(pa.array(survivors)))
    reasons[survivors[repeated]] = REJECT_REASONS.index("duplicate_order_id") + 1
    return reasons


def real_iso_dates(dates: pa.ChunkedArray) -> np.ndarray:
    """True where the value is YYYY-MM-DD and names a day that exists (proleptic Gregorian, year >= 1)."""
    shaped = _numpy(pc.match_substring_regex(dates, ISO_DATE))
    valid = np.zeros(len(dates), dtype=bool)
    if not shaped.any():
        return valid
    candidates = dates.filter(pa.array(shaped))

    def part(start: int, stop: int) -> np.ndarray:
        return _numpy(pc.cast(pc.utf8_slice_codeunits(candidates, start, stop), pa.int64()))

    year, month, day = part(0, 4), part(5, 7), part(8, 10)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days_in_month = MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid[shaped] = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    return valid


def positive_int64_quantities(quantities: pa.ChunkedArray) -> np.ndarray:
    """True where the value is ASCII digits only, at least 1 and representable as int64."""
    digits_only = _numpy(pc.match_substring_regex(quantities, DIGITS))
    significant = pc.utf8_ltrim(quantities, "0")
    length = _numpy(pc.utf8_length(significant))
    at_limit = _numpy(pc.less_equal(significant, INT64_MAX))
    fits = (length < len(INT64_MAX)) | ((length == len(INT64_MAX)) & at_limit)
    return digits_only & (length >= 1) & fits


def first_occurrence(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """True for the first row holding each distinct value."""
    codes = _numpy(pc.dictionary_encode(values).combine_chunks().indices) if len(values) else np.array([], int)
    first = np.zeros(len(values), dtype=bool)
    first[np.unique(codes, return_index=True)[1]] = True
    return first


def title_case(regions: pa.ChunkedArray) -> pa.ChunkedArray:
    """Python's str.title(), applied once per distinct region (there are few)."""
    encoded = pc.dictionary_encode(regions).combine_chunks()
    titled = pa.array([value.title() for value in encoded.dictionary.to_pylist()], pa.string())
    return pa.chunked_array([titled.take(encoded.indices)], pa.string())


def line_totals_cents(quantities: pa.ChunkedArray, prices: pa.ChunkedArray) -> np.ndarray:
    """quantity x unit_price in cents, rounded half-up; int64 on the fast path, exact Decimal elsewhere."""
    whole, fraction = _split_decimal(prices, PRICE)
    digits = _numpy(pc.utf8_length(pc.utf8_ltrim(quantities, "0"))) + _numpy(pc.utf8_length(pc.utf8_ltrim(whole, "0")))
    fast = (_numpy(pc.utf8_length(fraction)) <= 2) & (digits + 2 <= INT64_SAFE_DIGITS)
    if fast.all():
        return _int64(quantities) * _cents(whole, fraction)
    cents = np.empty(len(quantities), dtype=object)
    picked = pa.array(fast)
    cents[fast] = (_int64(quantities.filter(picked)) * _cents(whole.filter(picked), fraction.filter(picked))).tolist()
    slow = pa.array(~fast)
    cents[~fast] = [
        int((Decimal(q) * Decimal(p)).quantize(CENT, rounding=ROUND_HALF_UP) * 100)
        for q, p in zip(quantities.filter(slow).to_pylist(), prices.filter(slow).to_pylist(), strict=True)
    ]
    return cents


def money_to_cents(values: pa.ChunkedArray | pd.Series) -> np.ndarray:
    """Exact cents of money strings with at most two decimals (silver total_amount, gold revenue)."""
    values = _arrow_strings(values)
    if len(values) and not pc.all(pc.match_substring_regex(values, MONEY_WITH_SIGN)).as_py():
        raise ValueError("money values must look like 123.45")
    parts = pc.extract_regex(values, MONEY_WITH_SIGN)
    sign = np.where(_numpy(pc.equal(pc.struct_field(parts, "sign"), "-")), -1, 1)
    whole, fraction = pc.struct_field(parts, "whole"), pc.fill_null(pc.struct_field(parts, "fraction"), "")
    if len(values) and pc.max(pc.utf8_length(fraction)).as_py() > 2:
        raise ValueError("money values must have at most two decimals")
    if len(values) == 0 or pc.max(pc.utf8_length(whole)).as_py() <= INT64_SAFE_DIGITS - 2:
        return sign * _cents(whole, fraction)
    padded = pc.utf8_rpad(fraction, 2, "0").to_pylist()
    return sign * np.array([int(w) * 100 + int(f) for w, f in zip(whole.to_pylist(), padded, strict=True)], object)


def format_cents(cents: np.ndarray) -> pa.ChunkedArray:
    """Integer cents -> "123.45" with exactly two decimals (non-negative amounts)."""
    if cents.dtype == object:
        return pa.chunked_array([pa.array([f"{c // 100}.{c % 100:02d}" for c in cents], pa.string())])
    units = pc.cast(pa.array(cents // 100), pa.string())
    hundredths = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    return pa.chunked_array([pc.binary_join_element_wise(units, hundredths, ".")], pa.string())


def summarize_regions(silver: pd.DataFrame) -> pd.DataFrame:
    """Silver rows -> one row per region, by revenue descending then region ascending."""
    table = _to_arrow(silver, ("region", "quantity", "total_amount"))
    per_row = pd.DataFrame(
        {
            "region": table["region"].to_numpy(),
            "units": _int64(table["quantity"]) if len(table) else np.array([], np.int64),
            "cents": money_to_cents(table["total_amount"]),
        }
    )
    grouped = (
        per_row.groupby("region", sort=False)
        .agg(orders=("region", "size"), units=("units", "sum"), cents=("cents", "sum"))
        .reset_index()
        .sort_values(["cents", "region"], ascending=[False, True], kind="stable")
    )
    orders = grouped["orders"].to_numpy(np.int64)
    cents = grouped["cents"].to_numpy()
    # Half-up division on integers keeps the average exact: floor((2 * cents + n) / 2n).
    average = (2 * cents + orders) // (2 * orders)
    gold = pa.table(
        {
            "region": pa.array(grouped["region"].tolist(), pa.string()),
            "orders": pa.array(orders, pa.int64()),
            "units": pa.array(grouped["units"].tolist(), pa.int64()),
            "revenue": format_cents(cents),
            "avg_order_value": format_cents(average),
        }
    )
    return _to_pandas(gold)


def _to_arrow(frame: pd.DataFrame, columns: tuple[str, ...]) -> pa.Table:
    # Zero-copy for Arrow-backed columns, which is what csv_io reads.
    return pa.Table.from_pandas(frame.loc[:, list(columns)], preserve_index=False).cast(
        pa.schema([(name, pa.string()) for name in columns])
    )


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _arrow_strings(values: pa.ChunkedArray | pd.Series) -> pa.ChunkedArray:
    if isinstance(values, pd.Series):
        return pa.chunked_array([pa.array(values, pa.string())])
    return values


def _numpy(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False) if isinstance(array, pa.Array) else np.asarray(array)


def _int64(values: pa.ChunkedArray) -> np.ndarray:
    return _numpy(pc.cast(values, pa.int64()))


def _cents(whole: pa.ChunkedArray, fraction: pa.ChunkedArray) -> np.ndarray:
    return _int64(whole) * 100 + _int64(pc.utf8_rpad(fraction, 2, "0"))


def _split_decimal(values: pa.ChunkedArray, pattern: str) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    parts = pc.extract_regex(values, pattern)
    return pc.struct_field(parts, "whole"), pc.fill_null(pc.struct_field(parts, "fraction"), "")
