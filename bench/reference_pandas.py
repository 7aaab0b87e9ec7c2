"""The medallion data contract as the plain pandas script a user would write without Dagster.

    python -m bench.reference_pandas BRONZE_CSV OUT_DIR

Writes OUT_DIR/silver/silver_data.csv, OUT_DIR/silver/rejected_rows.csv and OUT_DIR/gold/gold_data.csv.
Money is exact: line totals come from Decimal (computed once per distinct quantity/price pair), sums from
integer cents.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

# The contract's names, written out rather than imported from dagster_project: a reference shares no code with
# the pipeline it checks (tests/pipeline/test_bench.py checks that the names agree).
REQUIRED = [
    "order_id",
    "order_date",
    "customer_id",
    "region",
    "product",
    "category",
    "quantity",
    "unit_price",
]
SILVER = [*REQUIRED, "total_amount", "order_month"]
REASONS = [
    "missing_order_id",
    "missing_region",
    "invalid_order_date",
    "invalid_quantity",
    "invalid_unit_price",
]
# Exactly the characters Python's str.strip() removes; pandas' Arrow-backed strip uses a different set. A copy of
# the rules' set on purpose, as the names above.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DIGITS = re.compile(r"[0-9]+")
PRICE = r"[0-9]+(\.[0-9]+)?"
INT64_MAX = 2**63 - 1
CENT = Decimal("0.01")


def read_bronze(path: Path) -> pd.DataFrame:
    orders = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    orders.columns = [name.strip().lower() for name in orders.columns]
    missing = [name for name in REQUIRED if name not in orders.columns]
    if missing:
        raise SystemExit(f"{path}: missing required columns {missing}")
    return orders[REQUIRED].fillna("")


def is_real_date(text: str) -> bool:
    if not DATE_SHAPE.fullmatch(text):
        return False
    try:
        date(int(text[:4]), int(text[5:7]), int(text[8:]))
    except ValueError:
        return False
    return True


def is_positive_int64(text: str) -> bool:
    return bool(DIGITS.fullmatch(text)) and 1 <= int(text) <= INT64_MAX


def line_total(quantity: str, unit_price: str) -> str:
    return str((Decimal(quantity) * Decimal(unit_price)).quantize(CENT, rounding=ROUND_HALF_UP))


def split_rejects(orders: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trimmed bronze rows -> (silver rows, rejected rows), both in bronze order."""
    checks = [
        orders["order_id"] == "",
        orders["region"] == "",
        # Few distinct dates and quantities: validate each distinct value once.
        ~orders["order_date"].map({d: is_real_date(d) for d in orders["order_date"].unique()}).astype(bool),
        ~orders["quantity"].map({q: is_positive_int64(q) for q in orders["quantity"].unique()}).astype(bool),
        ~orders["unit_price"].str.fullmatch(PRICE).astype(bool),
    ]
    reason = pd.Series(np.select(checks, REASONS, default=""), index=orders.index)
    survivors = orders.loc[reason == "", "order_id"]
    reason[survivors.index[survivors.duplicated()]] = "duplicate_order_id"

    rejects = orders[reason != ""].copy()
    rejects["source_row"] = rejects.index + 1
    rejects["reject_reason"] = reason[reason != ""]
    return orders[reason == ""].copy(), rejects


def add_silver_columns(silver: pd.DataFrame) -> pd.DataFrame:
    silver["region"] = silver["region"].map({r: r.title() for r in silver["region"].unique()})
    pair = silver["quantity"] + "x" + silver["unit_price"]
    totals = {key: line_total(*key.split("x")) for key in pair.unique()}
    silver["total_amount"] = pair.map(totals)
    silver["order_month"] = silver["order_date"].str[:7]
    return silver[SILVER]


def exact_ints(digits: pd.Series) -> pd.Series:
    """int64 when even the sum of all values fits, else Python ints (object) so sums stay exact."""
    if digits.empty or digits.str.len().max() + len(str(len(digits))) <= 18:
        return digits.astype("int64")
    return digits.map(int).astype(object)


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def summarize(silver: pd.DataFrame) -> pd.DataFrame:
    per_order = pd.DataFrame(
        {
            "region": silver["region"],
            "units": exact_ints(silver["quantity"]),
            "cents": exact_ints(silver["total_amount"].str.replace(".", "", regex=False)),
        }
    )
    gold = per_order.groupby("region", as_index=False).agg(
        orders=("region", "size"), units=("units", "sum"), cents=("cents", "sum")
    )
    gold = gold.sort_values(["cents", "region"], ascending=[False, True])
    # Half-up on integers: floor((2 * cents + n) / 2n).
    average = [(2 * c + n) // (2 * n) for c, n in zip(gold["cents"], gold["orders"], strict=True)]
    gold["revenue"] = [money(cents) for cents in gold["cents"]]
    gold["avg_order_value"] = [money(cents) for cents in average]
    return gold[["region", "orders", "units", "revenue", "avg_order_value"]]


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = [frame[column] for column in frame.columns if pd.api.types.is_string_dtype(frame[column])]
    if not any(text.str.contains("\r", regex=False).any() for text in texts):
        frame.to_csv(path, index=False, lineterminator="\n")
        return

    # Python's csv writer quotes only characters of its line terminator, so a bare CR would go out unquoted.
    def field(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if re.search('[",\r\n]', value) else value

    rows = [list(frame.columns), *frame.astype(str).itertuples(index=False)]
    path.write_text("".join(",".join(field(v) for v in row) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    bronze, out = Path(sys.argv[1]), Path(sys.argv[2])
    orders = read_bronze(bronze).apply(lambda column: column.str.strip(WHITESPACE))
    silver, rejects = split_rejects(orders)
    silver = add_silver_columns(silver)
    write_csv(silver, out / "silver" / "silver_data.csv")
    write_csv(rejects, out / "silver" / "rejected_rows.csv")
    write_csv(summarize(silver), out / "gold" / "gold_data.csv")


if __name__ == "__main__":
    main()
