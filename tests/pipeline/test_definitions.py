"""definitions.py, loaded the way a code server loads it (a fresh process): one Definitions with the three layers,
their checks, jobs, sensors and the storage resource, and no pandas or pyarrow until a step runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.project import REPO_ROOT

# Loads the definitions, validates them as Dagster does before serving them, and prints what they hold.
LOAD = """
import json, sys
from dagster import Definitions
from dagster_project.definitions import defs

Definitions.validate_loadable(defs)
graph = defs.resolve_asset_graph()
print(json.dumps({
    "heavy": sorted(name for name in ("pandas", "pyarrow", "numpy") if name in sys.modules),
    "groups": {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()},
    "checks": sorted(f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys),
    "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
    "sensors": sorted(sensor.name for sensor in defs.sensors),
    "resources": sorted(defs.resources),
}))
"""


@pytest.fixture(scope="module")
def loaded() -> dict:
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_definitions_hold_each_layer_in_its_group(loaded):
    assert loaded["groups"] == {"bronze_orders": "bronze", "silver_orders": "silver", "gold_region_sales": "gold"}


def test_the_definitions_hold_the_checks_jobs_sensors_and_storage(loaded):
    assert loaded["checks"] == [
        "gold_region_sales:revenue_matches_silver",
        "silver_orders:has_rows",
        "silver_orders:order_id_unique",
        "silver_orders:total_amount_non_negative",
    ]
    assert loaded["jobs"] == ["bronze_to_silver_job", "medallion_job", "silver_to_gold_job"]
    assert loaded["sensors"] == ["bronze_watch", "release_dead_runs"]
    assert loaded["resources"] == ["storage"]


def test_loading_the_definitions_leaves_pandas_and_pyarrow_to_the_steps(loaded):
    """Definitions load on every reload and run-worker start; the data libraries cost seconds there
    (docs/architecture.md#the-package)."""
    assert loaded["heavy"] == []
