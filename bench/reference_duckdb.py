"""The medallion data contract as DuckDB SQL.

    python -m bench.reference_duckdb BRONZE_CSV OUT_DIR

Writes the same three files as bench.reference_pandas. Money is integer cents in HUGEINT: a price with k
decimals is an integer scaled by 10^k, so quantity x price is exact and rounds half-up in integers. Values
beyond HUGEINT (about 1.7e38 after scaling) raise a DuckDB overflow error instead of rounding silently.
Title case is computed per distinct region in SQL and agrees with Python's str.title() except for letters
whose case mapping is not one character (e.g. "ß", "ǆ", final sigma).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

# Written out, not imported from dagster_project, as in bench.reference_pandas.
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
# Python's str.strip() set as an RE2 class: DuckDB's trim() removes only spaces, trim(s, chars) is 10x slower.
WHITESPACE = r"[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
EDGE_WHITESPACE = f"^{WHITESPACE}+|{WHITESPACE}+$"
CSV_OPTIONS = "header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"'"

CLASSIFY = """
CREATE TABLE classified AS
WITH trimmed AS (SELECT rowid + 1 AS source_row, {trimmed} FROM bronze),
checked AS (
    SELECT *,
        CASE
            WHEN order_id = '' THEN 'missing_order_id'
            WHEN region = '' THEN 'missing_region'
            WHEN NOT regexp_full_match(order_date, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
                OR order_date < '0001' OR try_strptime(order_date, '%Y-%m-%d') IS NULL
                THEN 'invalid_order_date'
            WHEN NOT regexp_full_match(quantity, '[0-9]+')
                OR coalesce(try_cast(quantity AS BIGINT) < 1, true) THEN 'invalid_quantity'
            WHEN NOT regexp_full_match(unit_price, '[0-9]+(\\.[0-9]+)?') THEN 'invalid_unit_price'
        END AS reason
    FROM trimmed
)
SELECT * EXCLUDE (reason),
    CASE
        WHEN reason IS NOT NULL THEN reason
        WHEN row_number() OVER (PARTITION BY order_id, reason IS NULL ORDER BY source_row) > 1
            THEN 'duplicate_order_id'
    END AS reject_reason
FROM checked
"""

POW10 = """
CREATE MACRO pow10(n) AS CAST(rpad('1', CAST(greatest(n, 0) AS INTEGER) + 1, '0') AS HUGEINT)
"""

# A price with k decimals (trailing zeros dropped) is the integer whole||fraction scaled by 10^k.
SILVER = """
CREATE VIEW silver AS
WITH priced AS (
    SELECT *,
        CAST(quantity AS HUGEINT) * CAST(split_part(unit_price, '.', 1) || fraction AS HUGEINT) AS scaled,
        length(fraction) AS places
    FROM (
        SELECT *, rtrim(split_part(unit_price, '.', 2), '0') AS fraction
        FROM classified WHERE reject_reason IS NULL
    )
),
cents AS (
    SELECT *,
        CASE WHEN places <= 2 THEN scaled * pow10(2 - places)
             ELSE (scaled + 5 * pow10(places - 3)) // pow10(places - 2)
        END AS total_cents
    FROM priced
),
titles AS (
    SELECT region,
        array_to_string(list_transform(chars, lambda c, i:
            CASE WHEN i = 1 OR upper(chars[i - 1]) = lower(chars[i - 1]) THEN upper(c) ELSE lower(c) END), '')
        AS title
    FROM (
        SELECT region, regexp_extract_all(region, '(?s).', 0) AS chars
        FROM (SELECT DISTINCT region FROM cents)
    )
)
SELECT source_row, order_id, order_date, customer_id, titles.title AS region, product, category, quantity,
    unit_price, total_cents, left(order_date, 7) AS order_month
FROM cents JOIN titles USING (region)
"""

GOLD = """
SELECT region, orders, units, {revenue} AS revenue, {average} AS avg_order_value
FROM (
    SELECT region, count(*) AS orders, sum(CAST(quantity AS HUGEINT)) AS units, sum(total_cents) AS cents
    FROM silver GROUP BY region
)
ORDER BY cents DESC, region
"""


def money(cents: str) -> str:
    return f"(({cents}) // 100)::VARCHAR || '.' || lpad((({cents}) % 100)::VARCHAR, 2, '0')"


def text(column: str) -> str:
    """DuckDB quotes empty strings to tell them from NULL; the contract writes them bare."""
    return f"nullif({column}, '') AS {column}"


def bronze_columns(con: duckdb.DuckDBPyConnection, bronze: Path) -> dict[str, str]:
    header = con.execute(f"DESCRIBE SELECT * FROM read_csv(?, {CSV_OPTIONS})", [str(bronze)]).fetchall()
    by_name = {name.strip().lower(): name for name, *_ in reversed(header)}
    missing = [name for name in REQUIRED if name not in by_name]
    if missing:
        raise SystemExit(f"{bronze}: missing required columns {missing}")
    return {name: by_name[name] for name in REQUIRED}


def run(bronze: Path, out: Path) -> None:
    con = duckdb.connect()
    columns = bronze_columns(con, bronze)
    # Loaded in parallel; with preserve_insertion_order (the default) rowid then follows file order. Numbering
    # rows with row_number() OVER () while reading would force the scan and the trims onto one thread.
    con.execute(f"CREATE TABLE bronze AS SELECT * FROM read_csv(?, {CSV_OPTIONS})", [str(bronze)])
    trimmed = ", ".join(
        f"regexp_replace(coalesce({quote_identifier(source)}, ''), '{EDGE_WHITESPACE}', '', 'g') AS {name}"
        for name, source in columns.items()
    )
    con.execute(CLASSIFY.format(trimmed=trimmed))
    con.execute("DROP TABLE bronze")
    con.execute(POW10)
    con.execute(SILVER)
    (out / "silver").mkdir(parents=True, exist_ok=True)
    (out / "gold").mkdir(parents=True, exist_ok=True)
    strings = ", ".join(text(name) for name in REQUIRED)
    rejects = f"SELECT {strings}, source_row, reject_reason FROM classified WHERE reject_reason IS NOT NULL"
    copy(con, f"{rejects} ORDER BY source_row", out / "silver" / "rejected_rows.csv")
    silver = f"SELECT {strings}, {money('total_cents')} AS total_amount, order_month FROM silver"
    copy(con, f"{silver} ORDER BY source_row", out / "silver" / "silver_data.csv")
    gold = GOLD.format(revenue=money("cents"), average=money("(2 * cents + orders) // (2 * orders)"))
    copy(con, gold, out / "gold" / "gold_data.csv")


def copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')")


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


if __name__ == "__main__":
    run(Path(sys.argv[1]), Path(sys.argv[2]))
