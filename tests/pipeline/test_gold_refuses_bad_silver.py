"""Gold reads silver from disk, so silver is input it must not trust: a silver file whose header is not exactly
silver's, or whose values are not what silver writes, fails the gold step with the message the README documents
(`Silver file … cannot be used: … Run bronze_to_silver_job to rebuild it.`) and leaves the previous gold
byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from dagster_project.contract.names import SILVER_COLUMNS
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.stack import copy_sample_bronze

HEADER = ",".join(SILVER_COLUMNS)
EXACTLY = f"expected exactly {list(SILVER_COLUMNS)}"


def first_row_with(lines: list[str], column: str, value: str) -> list[str]:
    cells = lines[1].split(",")
    cells[SILVER_COLUMNS.index(column)] = value
    return [lines[0], ",".join(cells), *lines[2:]]


def reorder(lines: list[str], first: int, second: int) -> list[str]:
    def swap(line: str) -> str:
        cells = line.split(",")
        cells[first], cells[second] = cells[second], cells[first]
        return ",".join(cells)

    return [swap(line) for line in lines]


# (case, how silver is spoiled, words the problem must contain). Every header case keeps the three columns gold
# reads, so only the exact-header check stands between such a file and a silently wrong gold.
CASES = [
    ("an extra column", lambda lines: [lines[0] + ",note", *(line + ",x" for line in lines[1:])], EXACTLY),
    ("columns in another order", lambda lines: reorder(lines, 1, 2), EXACTLY),
    ("a column missing", lambda lines: [line.rsplit(",", 1)[0] for line in lines], EXACTLY),
    ("a renamed column", lambda lines: [lines[0].replace("order_month", "month"), *lines[1:]], EXACTLY),
    ("a money value that is not money", lambda lines: first_row_with(lines, "total_amount", "12.3x"),
     "has a value that is not valid silver data (money values must look like 123.45)"),
    ("a money value with three decimals", lambda lines: first_row_with(lines, "total_amount", "1.005"),
     "has a value that is not valid silver data (money values must have at most two decimals)"),
    ("a quantity that is not a number", lambda lines: first_row_with(lines, "quantity", "two"),
     "has a value that is not valid silver data"),
]  # fmt: skip


@pytest.fixture
def previous_run(tmp_path) -> tuple[LayerStorage, bytes]:
    """A root holding the outputs of a good run of the sample data; returns the storage and gold's bytes."""
    copy_sample_bronze(tmp_path)
    storage = LayerStorage(root=str(tmp_path))
    assert materialize([bronze_orders, silver_orders, gold_region_sales], resources={"storage": storage}).success
    assert storage.silver_path().read_text().splitlines()[0] == HEADER
    return storage, storage.gold_path().read_bytes()


@pytest.mark.parametrize(("case", "spoil", "problem"), CASES, ids=[case[0] for case in CASES])
def test_gold_refuses_malformed_silver_and_keeps_the_previous_gold(previous_run, capfd, case, spoil, problem):
    storage, gold_before = previous_run
    silver: Path = storage.silver_path()
    silver.write_text("\n".join(spoil(silver.read_text().splitlines())) + "\n")
    capfd.readouterr()

    result = materialize(
        [gold_region_sales], resources={"storage": storage}, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )

    assert not result.success, f"gold summarized a silver file with {case} instead of refusing it"
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    shown = failure.step_failure_data.user_failure_data.description
    assert shown.startswith(f"Silver file {silver} cannot be used: "), shown
    assert problem in shown
    assert shown.endswith(". Run bronze_to_silver_job to rebuild it."), shown
    console = capfd.readouterr()
    assert problem in console.out + console.err  # the log line a pod or Tilt pane shows
    assert storage.gold_path().read_bytes() == gold_before
    assert [p.name for p in storage.gold_path().parent.iterdir()] == [storage.gold_path().name]


def test_an_untouched_silver_still_makes_gold(previous_run):
    """The refusals above are about the defects, not about running gold on its own."""
    storage, gold_before = previous_run
    assert materialize([gold_region_sales], resources={"storage": storage}).success
    assert storage.gold_path().read_bytes() == gold_before
