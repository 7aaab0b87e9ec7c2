"""What an edit made stale, as the Dagster UI shows it, on the real local stack serving a copy of the package
(as the pod serves APP_DIR): after an edit and a reload exactly the affected layers are *Unsynced*, a replaced
bronze file makes silver and gold stale, and `control refresh` runs exactly the stale set, or nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from tests.support.project import BIN, REPO_ROOT
from tests.support.stack import LocalStack, stack_serving_a_copy, wait_for
from tests.support.tools import require_tool

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

ASSETS = ("bronze_orders", "silver_orders", "gold_region_sales")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """(stack, package copy the code server serves)."""
    require_tool("dagster-webserver", shutil.which("dagster-webserver", path=str(BIN)) is not None,
                 "dagster-webserver is not installed (make install)")  # fmt: skip
    stack = stack_serving_a_copy(tmp_path_factory.mktemp("staleness")).start()
    package = stack.code_dir / "dagster_project"
    try:
        yield stack, package
    finally:
        stack.stop()


def statuses(stack: LocalStack) -> dict[str, tuple[str, set[str]]]:
    """asset -> (staleStatus, categories of its stale causes), as the asset graph shows them (Unsynced)."""
    return {
        "/".join(node["assetKey"]["path"]): (node["staleStatus"], {c["category"] for c in node["staleCauses"]})
        for node in stack.webserver().assets()
    }


def control(stack: LocalStack, package: Path, *args: str) -> subprocess.CompletedProcess:
    """The control CLI as Tilt runs it in the pod: from the served package, against the webserver."""
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.control", "--url", stack.url, *args],
        cwd=package.parent, env={**os.environ, "PYTHONPATH": str(package.parent)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def refresh(stack: LocalStack, package: Path) -> subprocess.CompletedProcess:
    result = control(stack, package, "refresh", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def all_fresh(stack: LocalStack, package: Path) -> None:
    refresh(stack, package)
    assert {asset: status for asset, (status, _) in statuses(stack).items()} == dict.fromkeys(ASSETS, "FRESH")


def edit_and_reload(stack: LocalStack, package: Path, module: str, old: str, new: str) -> None:
    path = package / f"{module}.py"
    source = path.read_text()
    assert old in source, f"{module}.py no longer contains {old!r}; update this test"
    path.write_text(source.replace(old, new, 1))
    stack.webserver().reload()


def append_and_reload(stack: LocalStack, package: Path, module: str, line: str) -> None:
    """An edit that changes what the module does whatever earlier tests in this module did to it."""
    path = package / f"{module}.py"
    path.write_text(f"{path.read_text()}\n{line}\n")
    stack.webserver().reload()


def stale_set(stack: LocalStack) -> dict[str, set[str]]:
    return {asset: causes for asset, (status, causes) in statuses(stack).items() if status != "FRESH"}


def test_first_refresh_materializes_everything_missing_then_nothing(synced):
    stack, package = synced
    assert {status for status, _ in statuses(stack).values()} == {"MISSING"}
    first = refresh(stack, package)
    assert "refreshing bronze_orders, gold_region_sales, silver_orders" in first.stdout
    assert "finished: SUCCESS" in first.stdout
    again = refresh(stack, package)
    assert "nothing to refresh" in again.stdout
    assert stale_set(stack) == {}


@pytest.mark.parametrize(
    ("module", "old", "new", "stale"),
    [
        # A real change in the silver asset: silver changed (its code), gold follows (its input is stale).
        ("defs/assets/silver", 'logger.info("cleaning bronze rows from {}',
         'logger.info("cleaning bronze rows now from {}', {"silver_orders", "gold_region_sales"}),
        # The rules both layers use.
        ("contract/rules", "\ndef ", "\nUNUSED_BY_THE_RULES = 1\n\n\ndef ", {"silver_orders", "gold_region_sales"}),
        # Gold's own module: only gold.
        ("defs/assets/gold", 'logger.info("{} regions summarized"', 'logger.info("{} regions summarized!"',
         {"gold_region_sales"}),
        # Comments, blank lines and docstrings never change what a step writes: nothing is stale.
        ("defs/assets/silver", "    with loguru_to_dagster(context):\n",
         "    # a comment-only edit\n\n    with loguru_to_dagster(context):\n", set()),
    ],
    ids=["silver-asset", "rules", "gold-asset", "comment-only"],
)  # fmt: skip
def test_an_edit_marks_exactly_the_layers_it_affects(synced, module, old, new, stale):
    stack, package = synced
    all_fresh(stack, package)
    edit_and_reload(stack, package, module, old, new)
    found = stale_set(stack)
    assert set(found) == stale, found
    if "silver_orders" in stale:
        assert "CODE" in found["silver_orders"]
    if stale == {"gold_region_sales"}:
        assert "CODE" in found["gold_region_sales"]
    result = refresh(stack, package)
    if stale:
        assert f"refreshing {', '.join(sorted(stale))}" in result.stdout, result.stdout
    else:
        assert "nothing to refresh" in result.stdout, result.stdout
    assert stale_set(stack) == {}


def test_a_replaced_bronze_file_makes_silver_and_gold_stale(synced):
    stack, package = synced
    all_fresh(stack, package)
    bronze = stack.data_root / "bronze" / "bronze_data.csv"
    # The same bytes copied again (a re-seed, a touch): nothing changes.
    shutil.copyfile(REPO_ROOT / "data" / "bronze" / "bronze_data.csv", bronze)
    # Replaced content: bronze_watch validates it, which records bronze's new data version.
    header, *rows = bronze.read_text().splitlines(keepends=True)
    bronze.write_text(header + "".join(rows[:-5]))
    wait_for(lambda: stale_set(stack) == {"silver_orders": {"DATA"}}, 60,
             "bronze_watch to validate the new bronze file", poll=0.5)  # fmt: skip
    # Gold is stale only once silver has new data; refresh rebuilds both in one run.
    result = refresh(stack, package)
    assert "refreshing gold_region_sales, silver_orders" in result.stdout, result.stdout
    assert stale_set(stack) == {}


def test_refresh_waits_for_the_synced_files_and_the_reload(synced):
    """As Tilt's auto-refresh: started with the laptop's digest before the sync lands and before the reload,
    it launches the refresh only once the served code is the new code."""
    stack, package = synced
    all_fresh(stack, package)
    edited = (package / "defs" / "assets" / "gold.py").read_text().replace('"gold done in', '"gold finished in', 1)
    laptop = package.parent.parent / "laptop" / "dagster_project"
    shutil.copytree(package, laptop, ignore=shutil.ignore_patterns("__pycache__"))
    (laptop / "defs" / "assets" / "gold.py").write_text(edited)
    digest = subprocess.run(["sh", REPO_ROOT / "tilt" / "source-digest.sh", laptop], capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    waiting = subprocess.Popen(
        [sys.executable, "-m", "dagster_project.control", "--url", stack.url, "refresh", "--wait",
         "--source-digest", digest],
        cwd=package.parent, env={**os.environ, "PYTHONPATH": str(package.parent)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    (package / "defs" / "assets" / "gold.py").write_text(edited)  # the sync lands
    stack.webserver().reload()  # the live update's reload
    output, _ = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, output
    assert "refreshing gold_region_sales" in output, output
    run_id = run_id_of(output)
    messages = [e["message"] for e in stack.webserver().events(run_id)]
    assert any(m.startswith("gold finished in") for m in messages), "the refresh ran the old code"
    assert stack.webserver().wait(run_id) == DagsterRunStatus.SUCCESS


@pytest.mark.parametrize(
    ("bad_line", "said"),
    [("def broken(:", "gold.py, line "), ("from dagster_project.no_such_module import x", "does not load")],
    ids=["syntax-error", "import-error"],
)
def test_refresh_says_so_when_the_saved_code_does_not_load(synced, bad_line, said):
    stack, package = synced
    module = package / "defs" / "assets" / "gold.py"
    good = module.read_text()
    module.write_text(f"{good}\n{bad_line}\n")
    try:
        with pytest.raises(RuntimeError, match="reloading code location"):
            stack.webserver().reload()
        result = control(stack, package, "refresh", "--code-timeout", "30")
        assert result.returncode == 2, result.stdout + result.stderr
        assert said in result.stderr and "nothing refreshed" in result.stderr, result.stderr
    finally:
        module.write_text(good)
        stack.webserver().reload()


def test_a_queued_refresh_is_reused_only_when_it_covers_the_new_edit(synced):
    """Saves made while a refresh waits in the queue reuse it (it starts on the newest code), unless the new
    edit makes more assets stale than it will build."""
    stack, package = synced
    all_fresh(stack, package)
    stack.kill("daemon")  # nothing leaves the queue meanwhile
    try:
        append_and_reload(stack, package, "defs/assets/gold", "QUEUED_EDIT = 1")
        first = control(stack, package, "refresh")
        assert "refreshing gold_region_sales" in first.stdout, first.stdout + first.stderr
        append_and_reload(stack, package, "defs/assets/gold", "QUEUED_EDIT = 2")
        again = control(stack, package, "refresh")
        assert "already queued for gold_region_sales" in again.stdout, again.stdout + again.stderr
        assert run_id_of(again.stdout) == run_id_of(first.stdout)
        append_and_reload(stack, package, "defs/assets/silver", "QUEUED_EDIT = 3")
        wider = control(stack, package, "refresh")
        assert "refreshing gold_region_sales, silver_orders" in wider.stdout, wider.stdout + wider.stderr
        assert run_id_of(wider.stdout) != run_id_of(first.stdout)
    finally:
        stack.start_daemon()
    for output in (first.stdout, wider.stdout):
        assert stack.webserver().wait(run_id_of(output), timeout=300) == DagsterRunStatus.SUCCESS
    assert stale_set(stack) == {}


def run_id_of(output: str) -> str:
    return output.split("run ", 1)[1].split(":", 1)[0]


def test_a_job_that_does_not_exist_fails_clearly(synced):
    """The launch retries once through a reload (a restarted code server looks the same), then says what is wrong."""
    stack, package = synced
    result = control(stack, package, "submit", "medallion_jbo")
    assert result.returncode == 2
    assert "submitting medallion_jbo failed" in result.stderr and "Could not find" in result.stderr, result.stderr
