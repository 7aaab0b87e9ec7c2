"""The contract end to end on real files: a hand-made bronze file and the exact bytes expected in silver,
rejects and gold, through `materialize()` and through the two jobs run as separate `dagster` processes."""

from pathlib import Path

import pytest
from dagster import materialize

from dagster_project.definitions import defs
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.contract_files import BRONZE, GOLD, REJECTS, SILVER, write_bronze
from tests.support.runs import run_dagster_job

ALL_REJECTED = "order_id,order_date,customer_id,region,product,category,quantity,unit_price\n,2024-01-01,C,R,P,K,1,1\n"


def read(root: Path, relative: str) -> str:
    return (root / relative).read_bytes().decode("utf-8")


def test_materialize_writes_exactly_the_contract(tmp_path):
    bronze = write_bronze(tmp_path, BRONZE)
    before = bronze.read_bytes()
    result = materialize(
        [bronze_orders, silver_orders, gold_region_sales], resources={"storage": LayerStorage(root=str(tmp_path))}
    )
    assert result.success
    assert read(tmp_path, "silver/silver_data.csv") == SILVER
    assert read(tmp_path, "silver/rejected_rows.csv") == REJECTS
    assert read(tmp_path, "gold/gold_data.csv") == GOLD
    assert bronze.read_bytes() == before
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "bronze_data.csv", "gold_data.csv", "rejected_rows.csv", "silver_data.csv",
    ]  # fmt: skip

    silver_meta = result.asset_materializations_for_node("silver_orders")[0].metadata
    assert silver_meta["dagster/row_count"].value == 5
    assert silver_meta["rejected/invalid_order_date"].value == 3
    assert silver_meta["rejected_rows"].value == 11
    assert "| A1 " in silver_meta["preview"].value
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks == {
        "order_id_unique": True, "total_amount_non_negative": True, "has_rows": True, "revenue_matches_silver": True,
    }  # fmt: skip


def test_no_surviving_row_gives_header_only_outputs_and_a_warning(tmp_path):
    write_bronze(tmp_path, ALL_REJECTED)
    result = materialize(
        [bronze_orders, silver_orders, gold_region_sales], resources={"storage": LayerStorage(root=str(tmp_path))}
    )
    assert result.success
    assert read(tmp_path, "silver/silver_data.csv") == SILVER.splitlines(keepends=True)[0]
    assert read(tmp_path, "gold/gold_data.csv") == GOLD.splitlines(keepends=True)[0]
    warned = [e for e in result.get_asset_check_evaluations() if e.check_name == "has_rows"]
    assert [(e.passed, e.severity.value) for e in warned] == [(False, "WARN")]


def test_jobs_in_separate_processes_hand_off_through_the_silver_file(tmp_path):
    write_bronze(tmp_path / "data", BRONZE)
    first = run_dagster_job("bronze_to_silver_job", tmp_path / "data", tmp_path / "home_one")
    assert first.returncode == 0, first.stdout + first.stderr
    assert not (tmp_path / "data" / "gold").exists()
    assert read(tmp_path / "data", "silver/silver_data.csv") == SILVER

    # A fresh process and an empty DAGSTER_HOME: gold can only come from silver on disk.
    second = run_dagster_job("silver_to_gold_job", tmp_path / "data", tmp_path / "home_two")
    assert second.returncode == 0, second.stdout + second.stderr
    assert read(tmp_path / "data", "gold/gold_data.csv") == GOLD
    assert "RUN_SUCCESS" in second.stdout + second.stderr


def test_silver_to_gold_without_silver_fails_naming_the_file(tmp_path):
    write_bronze(tmp_path / "data", BRONZE)
    run = run_dagster_job("silver_to_gold_job", tmp_path / "data", tmp_path / "home")
    assert run.returncode != 0
    assert f"Silver file {tmp_path / 'data' / 'silver' / 'silver_data.csv'} cannot be used" in run.stdout + run.stderr
    assert not (tmp_path / "data" / "gold").exists()


@pytest.mark.parametrize("job", ["bronze_to_silver_job", "silver_to_gold_job", "medallion_job"])
def test_jobs_are_defined_with_their_layers(job):
    selected = {key.to_user_string() for key in defs.resolve_job_def(job).asset_layer.executable_asset_keys}
    assert (
        selected
        == {
            "bronze_to_silver_job": {"bronze_orders", "silver_orders"},
            "silver_to_gold_job": {"gold_region_sales"},
            "medallion_job": {"bronze_orders", "silver_orders", "gold_region_sales"},
        }[job]
    )
