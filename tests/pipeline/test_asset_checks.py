"""Every asset check fails on the data it guards against, with metadata that says what is wrong, and the
assets report those failures in the run (the UI's check results). The data is the sample run's own silver
and gold, read back the way gold reads silver, with one defect put in."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity, materialize

from dagster_project.contract import rules
from dagster_project.contract.names import GOLD_COLUMNS, SILVER_COLUMNS
from dagster_project.defs import checks
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.frames import read_csv_columns, tally_of
from tests.support.stack import copy_sample_bronze

ASSETS = [bronze_orders, silver_orders, gold_region_sales]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Silver and gold of the sample data, as files on disk read back by the project's reader."""
    root = tmp_path_factory.mktemp("data")
    copy_sample_bronze(root)
    storage = LayerStorage(root=str(root))
    assert materialize(ASSETS, resources={"storage": storage}).success
    silver = read_csv_columns(storage.silver_path(), SILVER_COLUMNS)
    gold = read_csv_columns(storage.gold_path(), GOLD_COLUMNS)
    assert len(silver) >= 3 and silver["order_id"].is_unique, "the sample must give clean silver to spoil"
    return silver, gold


def metadata(result) -> dict:
    return {key: getattr(value, "value", value) for key, value in result.metadata.items()}


def with_value(frame: pd.DataFrame, row: int, column: str, value: str) -> pd.DataFrame:
    changed = frame.copy()
    changed.loc[changed.index[row], column] = value
    return changed


def silver_cents_of(silver: pd.DataFrame) -> int:
    return checks.silver_cents(silver["total_amount"])


def test_clean_outputs_pass_every_check(outputs):
    silver, gold = outputs
    assert checks.order_id_unique(tally_of(silver)).passed
    assert checks.total_amount_non_negative(tally_of(silver)).passed
    assert checks.has_rows(tally_of(silver)).passed
    assert checks.revenue_matches_silver(silver_cents_of(silver), gold).passed


def test_order_id_unique_fails_on_a_repeated_id(outputs):
    silver, _ = outputs
    repeated = silver["order_id"].iloc[0]
    result = checks.order_id_unique(tally_of(with_value(silver, 2, "order_id", repeated)))
    assert result.passed is False, f"order_id_unique passed on a silver where {repeated} appears twice"
    assert metadata(result) == {"duplicated_rows": 2, "examples": repeated}


def test_total_amount_non_negative_fails_on_a_negative_total(outputs):
    silver, _ = outputs
    result = checks.total_amount_non_negative(tally_of(with_value(silver, 1, "total_amount", "-5.00")))
    assert result.passed is False, "total_amount_non_negative passed on a silver with total_amount -5.00"
    assert metadata(result) == {"negative_rows": 1}


def test_has_rows_warns_on_an_empty_silver(outputs):
    silver, _ = outputs
    result = checks.has_rows(tally_of(silver.iloc[0:0]))
    assert result.passed is False, "has_rows passed on a silver without rows"
    assert result.severity == AssetCheckSeverity.WARN
    assert metadata(result) == {"rows": 0}
    assert "header-only" in result.description


@pytest.mark.parametrize("change", ["0.01", "-0.01", "100.00"])
def test_revenue_matches_silver_fails_when_gold_is_off(outputs, change):
    silver, gold = outputs
    cents = int(gold["revenue"].iloc[0].replace(".", "")) + int(change.replace(".", ""))
    off = with_value(gold, 0, "revenue", f"{cents // 100}.{cents % 100:02d}")
    result = checks.revenue_matches_silver(silver_cents_of(silver), off)
    assert result.passed is False, f"revenue_matches_silver passed on a gold whose revenue is {change} off"
    found = metadata(result)
    silver_total = sum(int(v.replace(".", "")) for v in silver["total_amount"]) / 100
    assert found["silver_total"] == pytest.approx(silver_total)
    assert found["gold_revenue"] == pytest.approx(silver_total + float(change))


def evaluations(result) -> dict[str, tuple[bool, dict]]:
    return {e.check_name: (e.passed, metadata(e)) for e in result.get_asset_check_evaluations()}


def test_silver_reports_its_failed_checks_in_the_run(tmp_path, monkeypatch):
    """The silver step hands the checks the silver it wrote: a defect the rules let through shows as a red check."""
    clean = rules.OrderCleaner.clean_batch

    def spoiled(cleaner, orders):
        result = clean(cleaner, orders)
        silver = result.silver.to_pandas(types_mapper=pd.ArrowDtype)
        silver = with_value(silver, 1, "order_id", silver["order_id"].iloc[0])
        silver = with_value(silver, 2, "total_amount", "-1.00")
        return dataclasses.replace(result, silver=pa.Table.from_pandas(silver, preserve_index=False))

    monkeypatch.setattr(rules.OrderCleaner, "clean_batch", spoiled)
    copy_sample_bronze(tmp_path)
    result = materialize([bronze_orders, silver_orders], resources={"storage": LayerStorage(root=str(tmp_path))})
    found = evaluations(result)
    assert found["order_id_unique"][0] is False, "the run shows order_id_unique green on a repeated order_id"
    assert found["order_id_unique"][1]["duplicated_rows"] == 2
    assert found["total_amount_non_negative"] == (False, {"negative_rows": 1})
    assert found["has_rows"][0] is True


def test_gold_reports_a_revenue_mismatch_in_the_run(tmp_path, monkeypatch):
    summarize = rules.RegionTotals.frame

    def one_cent_short(totals):
        gold = summarize(totals)
        cents = int(gold["revenue"].iloc[0].replace(".", "")) - 1
        return with_value(gold, 0, "revenue", f"{cents // 100}.{cents % 100:02d}")

    monkeypatch.setattr(rules.RegionTotals, "frame", one_cent_short)
    copy_sample_bronze(tmp_path)
    result = materialize(ASSETS, resources={"storage": LayerStorage(root=str(tmp_path))})
    passed, found = evaluations(result)["revenue_matches_silver"]
    assert passed is False, "the run shows revenue_matches_silver green on a gold one cent short"
    assert found["gold_revenue"] == pytest.approx(found["silver_total"] - 0.01)
