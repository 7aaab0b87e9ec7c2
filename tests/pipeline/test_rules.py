"""Each rule of the data contract, called directly on small frames."""

import sys

import pandas as pd
import pytest

from dagster_project.contract import names, rules
from tests.support.frames import clean_orders, summarize_regions

VALID = {
    "order_id": "A1",
    "order_date": "2024-01-15",
    "customer_id": "C1",
    "region": "North",
    "product": "Widget",
    "category": "Tools",
    "quantity": "2",
    "unit_price": "19.99",
}


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**VALID, **row} for row in rows], columns=names.REQUIRED_COLUMNS, dtype="str")


def reason_of(**changes: str) -> str:
    result = clean_orders(frame(changes))
    return result.rejects["reject_reason"].iloc[0] if len(result.rejects) else ""


@pytest.mark.parametrize("order_id", ["", "   ", "\t"])
def test_missing_order_id(order_id):
    assert reason_of(order_id=order_id) == "missing_order_id"


@pytest.mark.parametrize("region", ["", "  ", "\t \t"])
def test_missing_region(region):
    assert reason_of(region=region) == "missing_region"


@pytest.mark.parametrize(
    "date",
    ["2024-02-30", "2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31",
     "24-01-01", "2024-1-01", "2024/01/01", "2024-01-01T00:00", "01-15-2024", "", "0000-01-01",
     "\uff12\uff10\uff12\uff14-01-01"],
)  # fmt: skip
def test_invalid_order_date(date):
    assert reason_of(order_date=date) == "invalid_order_date"


@pytest.mark.parametrize("date", ["2024-02-29", "2000-02-29", "1900-02-28", "0001-01-01", "9999-12-31", " 2024-01-31 "])
def test_real_calendar_dates_pass(date):
    assert reason_of(order_date=date) == ""


@pytest.mark.parametrize(
    "quantity", ["0", "000", "-1", "+1", "1.0", "1e3", "", " ", "two", "\u0661", "9223372036854775808"]
)
def test_invalid_quantity(quantity):
    assert reason_of(quantity=quantity) == "invalid_quantity"


@pytest.mark.parametrize("quantity", ["1", "007", " 12 ", "9223372036854775807"])
def test_valid_quantity(quantity):
    assert reason_of(quantity=quantity, unit_price="0") == ""


@pytest.mark.parametrize("price", ["", ".5", "5.", "1,5", "-1", "+1", "1.2.3", "1e2", "$1", "1 000", "NaN"])
def test_invalid_unit_price(price):
    assert reason_of(unit_price=price) == "invalid_unit_price"


@pytest.mark.parametrize("price", ["0", "0.00", "5", "5.5", "0005.50", "1.005", " 3.10 "])
def test_valid_unit_price(price):
    assert reason_of(unit_price=price) == ""


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"order_id": "", "region": "", "order_date": "bad"}, "missing_order_id"),
        ({"region": "", "order_date": "bad", "quantity": "0"}, "missing_region"),
        ({"order_date": "bad", "quantity": "0", "unit_price": "x"}, "invalid_order_date"),
        ({"quantity": "0", "unit_price": "x"}, "invalid_quantity"),
        ({"unit_price": "x"}, "invalid_unit_price"),
    ],
)
def test_first_failing_reason_wins(changes, expected):
    assert reason_of(**changes) == expected


def test_duplicates_are_judged_after_the_other_rules():
    result = clean_orders(
        frame(
            {"order_id": "A1", "quantity": "0"},  # rejected, so it cannot shadow the next A1
            {"order_id": "A1"},  # first surviving A1
            {"order_id": " A1 "},  # same id once trimmed
            {"order_id": "A1", "region": ""},  # fails a rule before the duplicate check
            {"order_id": "a1"},  # ids are case-sensitive
        )
    )
    assert result.silver["order_id"].tolist() == ["A1", "a1"]
    assert result.rejects[["source_row", "reject_reason"]].values.tolist() == [
        [1, "invalid_quantity"],
        [3, "duplicate_order_id"],
        [4, "missing_region"],
    ]


@pytest.mark.parametrize(
    ("quantity", "price", "total"),
    [
        ("2", "19.99", "39.98"),
        ("3", "1.005", "3.02"),  # 3.015 rounds half up; float arithmetic would give 3.01
        ("1", "0.005", "0.01"),
        ("1", "0.004", "0.00"),
        ("7", "0.125", "0.88"),
        ("10", "5", "50.00"),
        ("007", "1.5", "10.50"),
        ("3", "0", "0.00"),
        ("9999999999", "123456789012.5", "1234567890001543210987.50"),
        ("9223372036854775807", "0.01", "92233720368547758.07"),
    ],
)
def test_total_amount_is_exact_and_rounded_half_up(quantity, price, total):
    result = clean_orders(frame({"quantity": quantity, "unit_price": price}))
    assert result.silver["total_amount"].tolist() == [total]


@pytest.mark.parametrize(
    ("region", "expected"),
    [("  nORTH ", "North"), ("south east", "South East"), ("NORTH-WEST", "North-West"), ("x", "X")],
)
def test_region_is_trimmed_and_title_cased(region, expected):
    assert clean_orders(frame({"region": region})).silver["region"].tolist() == [expected]


def test_values_are_trimmed_and_columns_ordered():
    padded = {name: f"  {value} " for name, value in VALID.items()}
    result = clean_orders(frame(padded))
    assert list(result.silver.columns) == list(names.SILVER_COLUMNS)
    assert result.silver.iloc[0].tolist() == [*VALID.values(), "39.98", "2024-01"]


def test_rejects_keep_trimmed_original_values_and_bronze_order():
    result = clean_orders(frame({"region": " nORTH ", "quantity": " 0 "}, {"order_id": ""}))
    assert list(result.rejects.columns) == list(names.REJECT_COLUMNS)
    assert result.rejects.iloc[0].tolist() == [
        "A1", "2024-01-15", "C1", "nORTH", "Widget", "Tools", "0", "19.99", 1, "invalid_quantity",
    ]  # fmt: skip
    assert result.rejects["source_row"].tolist() == [1, 2]


def test_reject_counts_cover_every_reason():
    counts = clean_orders(frame({"order_id": ""}, {"order_id": ""}, {"unit_price": "x"})).reject_counts()
    assert counts == {**dict.fromkeys(names.REJECT_REASONS, 0), "missing_order_id": 2, "invalid_unit_price": 1}


def silver_of(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """(region, quantity, total_amount) rows as silver."""
    return pd.DataFrame(
        [{**VALID, "region": r, "quantity": q, "total_amount": t, "order_month": "2024-01"} for r, q, t in rows],
        columns=names.SILVER_COLUMNS,
        dtype="str",
    )


def test_gold_sums_and_sorts_by_revenue_then_region():
    gold = summarize_regions(
        silver_of(("West", "1", "10.00"), ("East", "2", "5.00"), ("East", "3", "5.00"), ("Alpha", "1", "10.00"),
                  ("North", "007", "30.10"))
    )  # fmt: skip
    assert list(gold.columns) == list(names.GOLD_COLUMNS)
    assert gold.astype(str).values.tolist() == [
        ["North", "1", "7", "30.10", "30.10"],
        ["Alpha", "1", "1", "10.00", "10.00"],
        ["East", "2", "5", "10.00", "5.00"],
        ["West", "1", "1", "10.00", "10.00"],
    ]


@pytest.mark.parametrize(
    ("totals", "average"),
    [
        (["0.01", "0.04"], "0.03"),
        (["0.01", "0.02"], "0.02"),
        (["10.00", "10.00", "10.01"], "10.00"),
        (["1.00"] * 3, "1.00"),
    ],
)
def test_average_order_value_rounds_half_up(totals, average):
    gold = summarize_regions(silver_of(*[("North", "1", total) for total in totals]))
    assert gold["avg_order_value"].tolist() == [average]


def test_empty_input_gives_header_only_outputs():
    empty = pd.DataFrame({name: pd.Series([], dtype="str") for name in names.REQUIRED_COLUMNS})
    result = clean_orders(empty)
    assert result.silver.empty and list(result.silver.columns) == list(names.SILVER_COLUMNS)
    gold = summarize_regions(result.silver)
    assert gold.empty and list(gold.columns) == list(names.GOLD_COLUMNS)


def test_trimming_removes_exactly_what_pythons_str_strip_removes():
    """WHITESPACE is written out (scanning every code point cost a run 0.1 s): it must be the running Python's."""
    assert set(rules.WHITESPACE) == {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}
    padded = "".join(rules.WHITESPACE) + "Nörth\u00a0Ost" + "".join(rules.WHITESPACE)
    assert reason_of(region=padded) == ""
    assert clean_orders(frame({"region": padded})).silver["region"].iloc[0] == padded.strip().title()
