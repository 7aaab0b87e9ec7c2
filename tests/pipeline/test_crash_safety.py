"""Outputs are replaced atomically: a failed or killed writer never leaves a partial layer file behind."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from dagster import materialize

from dagster_project.contract import csv_io
from dagster_project.defs.assets.bronze import bronze_orders
from dagster_project.defs.assets.silver import silver_orders
from dagster_project.defs.resources import LayerStorage
from tests.support.project import REPO_ROOT

SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from dagster import materialize
    from dagster_project.contract import csv_io
    from dagster_project.defs.assets.bronze import bronze_orders
    from dagster_project.defs.resources import LayerStorage
    from dagster_project.defs.assets.silver import silver_orders

    def stalled_encode(table, handle):
        handle.write(b"half-written\\n")
        handle.flush()
        print("WRITER STALLED", flush=True)
        time.sleep(120)

    csv_io.encode_rows = stalled_encode
    materialize([bronze_orders, silver_orders], resources={"storage": LayerStorage(root=sys.argv[1])})
    """
)


def temp_files(root):
    return sorted(p for p in root.rglob(".*.tmp"))


def test_sigkill_while_writing_silver_keeps_the_previous_silver(data_root):
    storage = LayerStorage(root=str(data_root))
    assert materialize([bronze_orders, silver_orders], resources={"storage": storage}).success
    silver = data_root / "silver" / "silver_data.csv"
    previous = silver.read_bytes()

    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(data_root)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in writer.stdout:
            if "WRITER STALLED" in line:
                break
        else:
            pytest.fail(f"writer exited with {writer.wait()} before stalling")
        # Silver and its rejects are written side by side, each to its own temporary file.
        partials = temp_files(data_root)
        assert sorted(p.name.split(".")[1] for p in partials) == ["rejected_rows", "silver_data"], partials
        assert all(partial.parent == silver.parent for partial in partials)
        assert any(partial.read_bytes().endswith(b"half-written\n") for partial in partials)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()

    assert silver.read_bytes() == previous
    # The next run sweeps what the killed writer abandoned and writes a whole file.
    assert materialize([bronze_orders, silver_orders], resources={"storage": storage}).success
    assert temp_files(data_root) == []
    assert silver.read_bytes() == previous


def test_a_failing_write_removes_its_temporary_file_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "gold" / "gold_data.csv"
    csv_io.write_csv_atomic(pd.DataFrame({"region": ["North"], "orders": [1]}), target)
    previous = target.read_bytes()

    def failing_encode(table, handle):
        handle.write(b"Nor")
        raise OSError("disk full")

    monkeypatch.setattr(csv_io, "encode_rows", failing_encode)
    with pytest.raises(OSError, match="disk full"):
        csv_io.write_csv_atomic(pd.DataFrame({"region": ["South"], "orders": [2]}), target)
    assert target.read_bytes() == previous
    assert temp_files(tmp_path) == []


def test_temporary_files_of_live_writers_are_left_alone(tmp_path):
    target = tmp_path / "silver_data.csv"
    me = csv_io.writer_id()
    host, pid, started = me.rsplit("_", 2)
    live = tmp_path / f".silver_data.csv.{me}.abc.tmp"
    abandoned = {
        "dead process": tmp_path / f".silver_data.csv.{host}_999999999_{started}.abc.tmp",
        # A pod after a restart numbers its processes from 1 again: the same pid, started at another time.
        "pid reused": tmp_path / f".silver_data.csv.{host}_{pid}_1.abc.tmp",
        # A run pod that was killed: only one writer of a layer runs at a time, so it is not writing anymore.
        "other pod": tmp_path / f".silver_data.csv.dagster-run-0a1b2c-xyz_{pid}_{started}.abc.tmp",
        "pid only, dead (older files)": tmp_path / ".silver_data.csv.999999999.abc.tmp",
    }
    for path in (live, *abandoned.values()):
        path.write_text("partial")
    assert sorted(csv_io.remove_abandoned_temp_files(target)) == sorted(abandoned.values())
    assert live.exists() and not any(path.exists() for path in abandoned.values())
