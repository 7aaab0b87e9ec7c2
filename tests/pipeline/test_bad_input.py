"""Bad bronze input fails the bronze step with a message naming the file and the problem, in the event log
(what the UI shows) and on the console, and leaves silver, rejects and gold byte-identical."""

import os
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.project import REPO_ROOT

HEADER = "order_id,order_date,customer_id,region,product,category,quantity,unit_price\n"
ROW = "A1,2024-01-15,C1,North,Widget,Tools,2,19.99\n"
ASSETS = [bronze_orders, silver_orders, gold_region_sales]


def as_file(content: bytes):
    def make(path: Path) -> None:
        path.write_bytes(content)

    return make


def as_directory(path: Path) -> None:
    path.mkdir()


def absent(path: Path) -> None:
    pass


# (case, how to create bronze_data.csv, words the message must contain). All of these are file-level: a file
# whose framing or encoding is wrong cannot be trusted row by row, so nothing downstream is written.
CASES = [
    ("missing file", absent, "does not exist"),
    ("directory instead of file", as_directory, "is a directory"),
    ("0-byte file", as_file(b""), "is empty (0 bytes)"),
    ("header without data rows", as_file(HEADER.encode()), "has a header but no data rows"),
    ("missing required column", as_file(HEADER.replace(",quantity", "").encode() + b"1,2,3,4,5,6,7\n"),
     "is missing required column(s) quantity"),
    ("required column twice", as_file((HEADER.strip() + ",Region\n" + ROW.strip() + ",x\n").encode()),
     "has required column(s) more than once in the header: region (2 times)"),
    ("bytes that are not UTF-8", as_file((HEADER + ROW + "A2,2024-01-15,C1,Nörth,W,T,1,1\n").encode("latin-1")),
     "is not valid UTF-8: byte 138 on line 3"),
    ("unterminated quote", as_file((HEADER + ROW + 'A2,2024-01-15,C1,North,"Widget,Tools,2,19.99\n' + ROW).encode()),
     "has an unterminated quoted field starting on line 3"),
    ("binary garbage", as_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))),
     "contains a NUL byte on line 3"),
    ("NUL bytes", as_file((HEADER + ROW + "A2,2024-01-15,C1,No\0rth,W,T,1,1\n").encode()),
     "contains a NUL byte on line 3"),
    ("row with more fields than the header", as_file((HEADER + ROW + ROW.replace("\n", ",extra\n")).encode()),
     "line 3 has 9 fields but the header has 8"),
    ("row with fewer fields than the header", as_file((HEADER + ROW + ROW.replace(",19.99", "")).encode()),
     "line 3 has 7 fields but the header has 8"),
]  # fmt: skip


@pytest.fixture
def previous_outputs(tmp_path):
    """A root whose silver, rejects and gold come from a good run of the sample data."""
    bronze = tmp_path / "bronze" / "bronze_data.csv"
    bronze.parent.mkdir(parents=True)
    bronze.write_bytes((REPO_ROOT / "data" / "bronze" / "bronze_data.csv").read_bytes())
    assert materialize(ASSETS, resources={"storage": LayerStorage(root=str(tmp_path))}).success
    bronze.unlink()
    outputs = [tmp_path / "silver" / "silver_data.csv", tmp_path / "silver" / "rejected_rows.csv",
               tmp_path / "gold" / "gold_data.csv"]  # fmt: skip
    return tmp_path, {path: path.read_bytes() for path in outputs}


@pytest.mark.parametrize(("case", "make_bronze", "problem"), CASES, ids=[case[0] for case in CASES])
def test_bad_bronze_fails_clearly_and_changes_nothing(previous_outputs, capfd, case, make_bronze, problem):
    root, before = previous_outputs
    bronze = root / "bronze" / "bronze_data.csv"
    make_bronze(bronze)
    capfd.readouterr()

    instance = DagsterInstance.ephemeral()
    result = materialize(
        ASSETS, resources={"storage": LayerStorage(root=str(root))}, instance=instance, raise_on_error=False
    )

    assert not result.success
    failures = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert [event.step_key for event in failures] == ["bronze_orders"]
    shown = failures[0].step_failure_data.user_failure_data.description
    assert shown.startswith(f"Bronze file {bronze} cannot be used: ")
    assert problem in shown
    console = capfd.readouterr()
    assert problem in console.out + console.err
    assert {path: path.read_bytes() for path in before} == before
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("name", ["../gold/gold_data.csv", "/etc/passwd", "sub/file.csv", "..", ""])
def test_file_names_cannot_leave_their_layer(tmp_path, name):
    with pytest.raises(ValueError, match="must be a plain file name inside its layer directory"):
        LayerStorage(root=str(tmp_path), bronze_file=name)


def test_symlink_out_of_the_layer_is_refused(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text(HEADER + ROW)
    (tmp_path / "bronze").mkdir()
    os.symlink(outside, tmp_path / "bronze" / "bronze_data.csv")
    result = materialize([bronze_orders], resources={"storage": LayerStorage(root=str(tmp_path))}, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert (
        f"outside its layer directory {tmp_path / 'bronze'}" in failure.step_failure_data.user_failure_data.description
    )


def test_silver_output_symlinked_out_of_its_layer_is_refused(tmp_path, data_root):
    (data_root / "silver").mkdir()
    os.symlink(tmp_path / "elsewhere.csv", data_root / "silver" / "silver_data.csv")
    result = materialize(
        [bronze_orders, silver_orders], resources={"storage": LayerStorage(root=str(data_root))}, raise_on_error=False
    )
    assert not result.success
    assert not (tmp_path / "elsewhere.csv").exists()


def test_a_symlink_within_the_layer_is_fine(tmp_path):
    (tmp_path / "bronze").mkdir()
    (tmp_path / "bronze" / "orders-2024.csv").write_text(HEADER + ROW)
    os.symlink("orders-2024.csv", tmp_path / "bronze" / "bronze_data.csv")
    assert materialize(ASSETS, resources={"storage": LayerStorage(root=str(tmp_path))}).success


def test_bronze_is_never_written(tmp_path):
    storage = LayerStorage(root=str(tmp_path), silver_file="x.csv")
    with pytest.raises(ValueError, match="never writes"):
        storage.write_csv(__import__("pandas").DataFrame({"a": ["1"]}), tmp_path / "bronze" / "x.csv")
