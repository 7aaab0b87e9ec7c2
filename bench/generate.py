"""Deterministic bronze orders at any size: realistic values, ~2% rejects spread over every reason.

The file is written in fixed-size chunks, each from its own seeded generator, so 10M rows never sit in
memory and the same (rows, seed) always gives the same bytes. Lines are built column-wise with pyarrow
compute and written straight from the string array's data buffer.

    python -m bench.generate --rows 1000000 --out /tmp/bronze_data.csv [--seed 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A producer's header, as a bronze file would arrive: the contract's columns plus one the pipeline ignores.
HEADER = "order_id,order_date,customer_id,region,product,category,quantity,unit_price,notes\n"
CHUNK_ROWS = 250_000
REJECT_RATE = 0.02

# (product, category, price in cents); some names need CSV quoting (commas, quotes).
CATALOG = (
    ('Laptop 14"', "Electronics", 89_900),
    ("USB-C Cable, 2 m", "Accessories", 1_299),
    ("Wireless Mouse", "Accessories", 2_499),
    ('Monitor 27" 4K', "Electronics", 32_900),
    ("Desk Lamp", "Home", 3_450),
    ("Coffee Beans, Dark Roast", "Grocery", 1_150),
    ("Green Tea", "Grocery", 475),
    ("Notebook A5", "Stationery", 399),
    ("Gel Pens (10 pack)", "Stationery", 899),
    ('Office Chair "Ergo", Black', "Furniture", 24_900),
    ("Standing Desk", "Furniture", 45_000),
    ("Yoga Mat", "Sports", 2_500),
    ("Water Bottle", "Sports", 1_800),
    ("Headphones", "Electronics", 7_999),
    ("Phone Case", "Accessories", 1_500),
    ("Scented Candle", "Home", 100),
)
PRODUCT_WEIGHTS = np.array([3, 9, 8, 2, 5, 9, 8, 10, 7, 1, 1, 4, 6, 4, 8, 3], dtype=float)
REGIONS = ("North", "South", "East", "West", "Central")
REGION_WEIGHTS = np.array([0.24, 0.22, 0.2, 0.19, 0.15])
# Valid after trimming and title-casing: how real exports spell the same region.
REGION_SPELLINGS = ("{}", " {} ", "{}  ", "\t{}", "\u00a0{}", "UPPER", "lower", "mIxED")
NOTES = ("gift wrap, please", 'customer said "urgent"', "leave at door\nring twice", "repeat customer")

# Values that make a row fail one rule, in contract order.
BLANK_IDS = ("", "   ")
BLANK_REGIONS = ("", "  ", "\t")
BAD_DATES = (
    "2023-02-29",
    "2024-02-30",
    "2023-04-31",
    "2024-13-05",
    "2024-00-10",
    "2024-1-5",
    "05/03/2024",
    "2024/03/05",
    "",
    "2024-03-05T10:00",
    "0000-01-01",
    "tomorrow",
)
BAD_QUANTITIES = ("0", "-1", "two", "1.5", "", "3 pcs", "\uff11", "00", "9223372036854775808", "+2")
BAD_PRICES = ("$19.99", "19,99", "-5.00", ".99", "19.", "", "N/A", "1e3", "\uff11\uff12.50", "12.5.1")
# First-row positions that always carry each reason, so even tiny files contain all six.
FORCED_REJECT_POSITIONS = (3, 5, 7, 11, 13, 17)
MISSING_ID, MISSING_REGION, BAD_DATE, BAD_QUANTITY, BAD_PRICE, DUPLICATE = range(6)
CLEAN = -1

EPOCH_2023 = 19_358  # days from 1970-01-01 to 2023-01-01
DAYS_IN_2023_2024 = 731


def write_bronze(path: Path, rows: int, seed: int = 7, chunk_rows: int = CHUNK_ROWS) -> None:
    """Write `rows` data rows (plus header) to `path`; output depends only on rows, seed and chunk_rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(HEADER.encode())
        for index, start in enumerate(range(0, rows, chunk_rows)):
            size = min(chunk_rows, rows - start)
            lines = _chunk_lines(np.random.default_rng([seed, index]), start, size)
            out.write(_concatenated_bytes(lines))


def _chunk_lines(rng: np.random.Generator, start: int, size: int) -> pa.Array:
    reasons = _reject_reasons(rng, start, size)
    product_index = rng.choice(len(CATALOG), size=size, p=PRODUCT_WEIGHTS / PRODUCT_WEIGHTS.sum())
    columns = [
        _order_ids(rng, start, reasons),
        _order_dates(rng, reasons),
        _customer_ids(rng, size),
        _regions(rng, reasons),
        _pick([name for name, _, _ in CATALOG], product_index),
        _pick([category for _, category, _ in CATALOG], product_index),
        _quantities(rng, reasons),
        _unit_prices(rng, product_index, reasons),
        _notes(rng, size),
    ]
    columns = [_quote_where_needed(_pad_some(rng, column)) for column in columns]
    return pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), "\n", "")


def _reject_reasons(rng: np.random.Generator, start: int, size: int) -> np.ndarray:
    reasons = np.full(size, CLEAN)
    rejected = rng.random(size) < REJECT_RATE
    reasons[rejected] = rng.integers(0, 6, size=int(rejected.sum()))
    if start == 0 and size > max(FORCED_REJECT_POSITIONS):
        reasons[list(FORCED_REJECT_POSITIONS)] = range(6)
        reasons[FORCED_REJECT_POSITIONS[DUPLICATE] - 1] = CLEAN  # the row the forced duplicate repeats
    return reasons


def _order_ids(rng: np.random.Generator, start: int, reasons: np.ndarray) -> pa.Array:
    row = np.arange(start, start + len(reasons))
    # A duplicate re-sends an earlier order: its id is the id some earlier row got.
    back = 1 + rng.integers(0, 5_000, size=len(reasons)) % np.maximum(row, 1)
    if start == 0 and len(reasons) > max(FORCED_REJECT_POSITIONS):
        back[FORCED_REJECT_POSITIONS[DUPLICATE]] = 1
    number = np.where(reasons == DUPLICATE, np.maximum(row - back, 0), row) + 100_001
    ids = pc.binary_join_element_wise("ORD-", pc.utf8_lpad(pa.array(number).cast(pa.string()), 9, "0"), "")
    return _replace(rng, ids, reasons == MISSING_ID, BLANK_IDS)


def _order_dates(rng: np.random.Generator, reasons: np.ndarray) -> pa.Array:
    days = (EPOCH_2023 + rng.integers(0, DAYS_IN_2023_2024, size=len(reasons))).astype("int32")
    dates = pa.array(days).cast(pa.date32()).cast(pa.string())
    return _replace(rng, dates, _fails(rng, reasons, BAD_DATE), BAD_DATES)


def _customer_ids(rng: np.random.Generator, size: int) -> pa.Array:
    number = pa.array(rng.integers(1, 60_000, size=size)).cast(pa.string())
    ids = pc.binary_join_element_wise("C", pc.utf8_lpad(number, 6, "0"), "")
    return _replace(rng, ids, rng.random(size) < 0.005, ("",))  # guest checkouts: valid, just blank


def _regions(rng: np.random.Generator, reasons: np.ndarray) -> pa.Array:
    size = len(reasons)
    spellings = [_respell(name, form) for name in REGIONS for form in REGION_SPELLINGS]
    region = rng.choice(len(REGIONS), size=size, p=REGION_WEIGHTS)
    form = np.where(rng.random(size) < 0.06, rng.integers(1, len(REGION_SPELLINGS), size=size), 0)
    regions = _pick(spellings, region * len(REGION_SPELLINGS) + form)
    return _replace(rng, regions, reasons == MISSING_REGION, BLANK_REGIONS)


def _respell(name: str, form: str) -> str:
    if form == "UPPER":
        return name.upper()
    if form == "lower":
        return name.lower()
    if form == "mIxED":
        return name[0].lower() + name[1:].upper()
    return form.format(name)


def _quantities(rng: np.random.Generator, reasons: np.ndarray) -> pa.Array:
    size = len(reasons)
    text = pa.array(np.minimum(rng.geometric(0.45, size=size), 40)).cast(pa.string())
    text = pc.if_else(rng.random(size) < 0.003, pc.utf8_lpad(text, 3, "0"), text)  # "007" is valid
    return _replace(rng, text, _fails(rng, reasons, BAD_QUANTITY), BAD_QUANTITIES)


def _unit_prices(rng: np.random.Generator, product_index: np.ndarray, reasons: np.ndarray) -> pa.Array:
    size = len(reasons)
    list_cents = np.array([cents for _, _, cents in CATALOG])[product_index]
    discount = rng.choice([0, 0, 0, 5, 10, 15], size=size)
    cents = list_cents * (100 - discount) // 100
    whole = pa.array(cents // 100).cast(pa.string())
    two_places = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
    style = rng.random(size)
    # Exports drop zeros ("25", "12.5") and a few carry a third decimal that exercises half-up rounding.
    text = pc.binary_join_element_wise(whole, two_places, ".")
    text = pc.if_else((style < 0.3) & (cents % 100 == 0), whole, text)
    one_place = pc.binary_join_element_wise(whole, pa.array((cents % 100) // 10).cast(pa.string()), ".")
    text = pc.if_else((style > 0.7) & (cents % 10 == 0), one_place, text)
    mills = pa.array(rng.choice([5, 5, 5, 1, 9], size=size)).cast(pa.string())
    three_places = pc.binary_join_element_wise(whole, ".", two_places, mills, "")
    text = pc.if_else(style > 0.995, three_places, text)
    return _replace(rng, text, _fails(rng, reasons, BAD_PRICE), BAD_PRICES)


def _notes(rng: np.random.Generator, size: int) -> pa.Array:
    return _replace(rng, pa.array(np.full(size, ""), pa.string()), rng.random(size) < 0.01, NOTES)


def _fails(rng: np.random.Generator, reasons: np.ndarray, reason: int) -> np.ndarray:
    """Rows rejected for `reason`, plus some rejected earlier that also break this later rule."""
    earlier = (reasons >= 0) & (reasons < reason) & (rng.random(len(reasons)) < 0.15)
    return (reasons == reason) | earlier


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(index))


def _replace(rng: np.random.Generator, column: pa.Array, mask: np.ndarray, choices: tuple[str, ...]) -> pa.Array:
    if not mask.any():
        return column
    replacements = pa.array(choices, pa.string()).take(rng.integers(0, len(choices), size=int(mask.sum())))
    return pc.replace_with_mask(column, pa.array(mask), replacements)


def _pad_some(rng: np.random.Generator, column: pa.Array) -> pa.Array:
    """Surround ~0.5% of values with spaces, as hand-edited exports do; trimming makes them valid again."""
    padded = pc.binary_join_element_wise(" ", column, "  ", "")
    return pc.if_else(rng.random(len(column)) < 0.005, padded, column)


def _quote_where_needed(column: pa.Array) -> pa.Array:
    needs = pc.match_substring_regex(column, '[",\r\n]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


def _concatenated_bytes(lines: pa.Array) -> memoryview:
    """All values of a string array back to back: its data buffer between the first and last offset."""
    lines = pa.concat_arrays([lines]).cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_bronze(args.out, args.rows, args.seed)


if __name__ == "__main__":
    main()
