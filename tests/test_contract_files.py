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
from tests.conftest import run_dagster_job

# BOM, header names padded, mixed case and reordered, an extra column, a quoted comma and a quoted newline.
BRONZE = (
    "\ufeff Unit_Price ,ORDER_ID,order_date,Customer_ID,REGION,product,category,quantity,Notes\r\n"
    '19.99, A1 ,2024-01-15,C1,  nORTH ,Widget,Tools,2,"first, with comma"\r\n'
    '5, A2,2024-02-29,C2,south,"Gadget, large",Toys,3,"multi\nline note"\r\n'
    "1.005,A3,2024-03-01,C3,North,Thing,Misc,3,\r\n"
    "9.99,,2024-01-01,C4,East,X,Y,1,no id\r\n"
    "9.99,A4,2024-01-01,C4,  ,X,Y,1,no region\r\n"
    "9.99,A5,2023-02-29,C4,East,X,Y,1,not a leap year\r\n"
    "9.99,A6,2024-1-05,C4,East,X,Y,1,date shape\r\n"
    "9.99,A7,2024-01-05,C4,East,X,Y,0,zero quantity\r\n"
    "9.99,A8,2024-01-05,C4,East,X,Y,1.5,fractional quantity\r\n"
    "1.2.3,A9,2024-01-05,C4,East,X,Y,1,bad price\r\n"
    ".5,A10,2024-01-05,C4,East,X,Y,1,bad price\r\n"
    "9.99,A1,2024-01-05,C4,East,X,Y,1,duplicate of A1\r\n"
    "x,A2,bad,C4,,X,Y,x,region is the first failure\r\n"
    "9.99,A12,2024-02-30,C6,East,X,Y,1,rejected first\r\n"
    "10,A11,2024-12-31,C5,east,X,Y,007,\r\n"
    "9.99,A12,2024-01-01,C6,EAST,X,Y,1,survives: the earlier A12 was rejected\r\n"
)

SILVER = (
    "order_id,order_date,customer_id,region,product,category,quantity,unit_price,total_amount,order_month\n"
    "A1,2024-01-15,C1,North,Widget,Tools,2,19.99,39.98,2024-01\n"
    'A2,2024-02-29,C2,South,"Gadget, large",Toys,3,5,15.00,2024-02\n'
    "A3,2024-03-01,C3,North,Thing,Misc,3,1.005,3.02,2024-03\n"
    "A11,2024-12-31,C5,East,X,Y,007,10,70.00,2024-12\n"
    "A12,2024-01-01,C6,East,X,Y,1,9.99,9.99,2024-01\n"
)

REJECTS = (
    "order_id,order_date,customer_id,region,product,category,quantity,unit_price,source_row,reject_reason\n"
    ",2024-01-01,C4,East,X,Y,1,9.99,4,missing_order_id\n"
    "A4,2024-01-01,C4,,X,Y,1,9.99,5,missing_region\n"
    "A5,2023-02-29,C4,East,X,Y,1,9.99,6,invalid_order_date\n"
    "A6,2024-1-05,C4,East,X,Y,1,9.99,7,invalid_order_date\n"
    "A7,2024-01-05,C4,East,X,Y,0,9.99,8,invalid_quantity\n"
    "A8,2024-01-05,C4,East,X,Y,1.5,9.99,9,invalid_quantity\n"
    "A9,2024-01-05,C4,East,X,Y,1,1.2.3,10,invalid_unit_price\n"
    "A10,2024-01-05,C4,East,X,Y,1,.5,11,invalid_unit_price\n"
    "A1,2024-01-05,C4,East,X,Y,1,9.99,12,duplicate_order_id\n"
    "A2,bad,C4,,X,Y,x,x,13,missing_region\n"
    "A12,2024-02-30,C6,East,X,Y,1,9.99,14,invalid_order_date\n"
)

# East 70.00 + 9.99 = 79.99 over 2 orders -> 39.995 -> 40.00 (half up); North 39.98 + 3.02.
GOLD = (
    "region,orders,units,revenue,avg_order_value\nEast,2,8,79.99,40.00\nNorth,2,5,43.00,21.50\nSouth,1,3,15.00,15.00\n"
)

ALL_REJECTED = "order_id,order_date,customer_id,region,product,category,quantity,unit_price\n,2024-01-01,C,R,P,K,1,1\n"


def write_bronze(root: Path, text: str) -> Path:
    path = root / "bronze" / "bronze_data.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


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
