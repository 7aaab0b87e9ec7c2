"""The layers are computed batch by batch (bounded memory); where the batches split the file never shows in the
output: many small batches, one large batch and the independent DuckDB reference write the same bytes, also
when every order_id fingerprint collides (the exact comparison behind the fingerprints decides)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from dagster import materialize

from dagster_project.contract import csv_io, rules
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.gold import gold_region_sales
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.runs import generated_bronze, layer_files

ROWS = 40_000  # duplicates repeat ids up to 5,000 rows back, so they cross many 64 KiB batches


@pytest.fixture(scope="module")
def bronze(tmp_path_factory) -> tuple[Path, dict]:
    return generated_bronze(tmp_path_factory.mktemp("batches"), ROWS)


def pipeline_outputs(root: Path, bronze_file: Path) -> dict:
    (root / "bronze").mkdir(parents=True)
    shutil.copyfile(bronze_file, root / "bronze" / "bronze_data.csv")
    result = materialize(
        [bronze_orders, silver_orders, gold_region_sales], resources={"storage": LayerStorage(root=str(root))}
    )
    assert result.success
    return layer_files(root)


@pytest.mark.parametrize("batch_bytes", [64 * 1024, 1024 * 1024 * 1024], ids=["64KiB-batches", "one-batch"])
def test_the_batch_size_never_changes_a_byte(tmp_path, monkeypatch, bronze, batch_bytes):
    path, expected = bronze
    monkeypatch.setattr(csv_io, "BATCH_BYTES", batch_bytes)
    batches = sum(1 for _ in csv_io.open_csv_batches(path, ("order_id",)))
    assert (batches > 20) if batch_bytes < path.stat().st_size else batches == 1
    assert pipeline_outputs(tmp_path, path) == expected


def test_colliding_fingerprints_never_merge_different_ids(tmp_path, monkeypatch, bronze):
    path, expected = bronze
    monkeypatch.setattr(csv_io, "BATCH_BYTES", 256 * 1024)
    monkeypatch.setattr(rules, "fingerprints", lambda values: np.zeros(len(values), dtype=np.uint64) + 7)
    assert pipeline_outputs(tmp_path, path) == expected


def test_seen_ids_are_exact_across_calls():
    import pyarrow as pa

    seen = rules.SeenIds()
    assert seen.first_seen(pa.array(["a", "b", "a", "é", ""])).tolist() == [True, True, False, True, True]
    assert seen.first_seen(pa.array(["b", "c", "é", "c", "x" * 100])).tolist() == [False, True, False, False, True]
    assert seen.first_seen(pa.array(["x" * 100, "x" * 99])).tolist() == [False, True]
    assert len(seen) == 7
