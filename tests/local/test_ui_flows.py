"""Flows a person goes through in the Dagster UI, in a real Chromium against the real local stack (code server,
webserver and daemon as the chart runs them). What each test expects to see comes from the files the runs
wrote, so a UI that shows other numbers, or nothing, fails the test. Each flow saves a screenshot:
`make screenshots` writes them to docs/img/.

Skipped without Chromium or Playwright (bash .ci/setup-browser.sh); CI requires both (MEDALLION_REQUIRE).
"""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.support import browser
from tests.support.project import BIN, REPO_ROOT
from tests.support.stack import copy_sample_bronze, instance_of, overlapping, stack_serving_a_copy, step_windows
from tests.support.tools import require_tool

pytestmark = [pytest.mark.stack, pytest.mark.browser]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    """The local stack serving a copy of the package, as the pod serves APP_DIR: flow (c) edits it."""
    require_tool("dagster-webserver", shutil.which("dagster-webserver", path=str(BIN)) is not None,
                 "dagster-webserver is not installed (make install)")  # fmt: skip
    stack = stack_serving_a_copy(tmp_path_factory.mktemp("ui-stack"))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def chromium():
    binary = browser.require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=browser.UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=browser.CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def ui(chromium, local_stack):
    """One person's browser session on a fresh instance: the first visit shows the community dialog, once."""
    context = chromium.new_context(viewport=browser.VIEWPORT)
    context.set_default_timeout(browser.UI_TIMEOUT_MS)
    first = context.new_page()
    first.goto(local_stack.url)
    browser.skip_community_dialog(first)
    first.close()
    yield context
    context.close()


@pytest.fixture
def page(ui):
    opened = ui.new_page()
    browser.dismiss_tips_when_shown(opened)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return browser.screenshot_dir(tmp_path_factory.getbasetemp() / "screenshots")


@pytest.fixture(scope="module")
def sample_materialized(local_stack) -> Path:
    """Silver written once from the sample bronze, for flows that look at its results rather than launch it."""
    webserver = local_stack.webserver()
    run_id = webserver.submit("medallion_job")
    assert webserver.wait(run_id, timeout=browser.RUN_TIMEOUT_MS / 1000).value == "SUCCESS"
    return local_stack.data_root


def test_launchpad_run_succeeds_and_its_log_shows_the_silver_debug_lines(page, local_stack, shots):
    """(a) Jobs → medallion_job → Open launchpad → Materialize; the run page reaches Success and its log, with
    the debug level ticked, shows the silver step's loguru DEBUG lines with the counts the rejects file holds."""
    from playwright.sync_api import expect

    browser.open_job(page, local_stack.url, "medallion_job")
    launchpad = browser.open_launchpad(page)
    materialize = launchpad.get_by_role("button", name=re.compile(r"\bMaterialize$"))
    expect(materialize).to_be_enabled()
    browser.screenshot(page, shots / "ui-launchpad.png")
    materialize.click()

    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    assert browser.wait_for_run_end(page) == "Success"

    rejects = read_csv(local_stack.data_root / "silver" / "rejected_rows.csv")
    per_reason = Counter(row["reject_reason"] for row in rejects)
    assert per_reason, "the sample bronze file is meant to produce rejects"
    rows = browser.filter_log(page, "rejected", debug=True)
    for reason, count in per_reason.items():
        line = rows.filter(has_text=f"rejected {reason}: {count} rows")
        expect(line).to_have_count(1)
        expect(line).to_contain_text("silver_orders")
        expect(line).to_contain_text("DEBUG")
    rows.filter(has_text="DEBUG").first.scroll_into_view_if_needed()
    browser.screenshot(page, shots / "ui-run-success-debug-log.png")


def test_silver_catalog_page_shows_row_count_schema_and_rejects_preview(page, local_stack, sample_materialized, shots):
    """(e) Catalog → silver_orders: the row count and the columns of silver_data.csv, and the rejects preview
    (metadata → Show Markdown) listing the first rows of rejected_rows.csv."""
    from playwright.sync_api import expect

    silver = read_csv(sample_materialized / "silver" / "silver_data.csv")
    rejects = read_csv(sample_materialized / "silver" / "rejected_rows.csv")
    page.goto(local_stack.url)
    browser.link(page, "Catalog").click()
    browser.link(page, "silver_orders").first.click()

    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
    expect(row_count).to_have_text(re.compile(rf"^Row count\s*{len(silver)}$"))
    columns = page.get_by_role("table").filter(has=page.get_by_role("cell", name="Column name", exact=True))
    for column in silver[0]:
        expect(columns.get_by_role("cell", name=column, exact=True)).to_be_visible()
    browser.screenshot(page, shots / "ui-silver-catalog.png")

    metadata_row = page.get_by_role("row").filter(has=page.get_by_text("rejects_preview", exact=True))
    metadata_row.get_by_text("[Show Markdown]").click()
    preview = page.get_by_role("dialog").filter(has_text="rejects_preview")
    expect(preview.get_by_role("columnheader", name="reject_reason")).to_be_visible()
    shown = preview.get_by_role("row").filter(has=page.get_by_role("cell"))
    expect(shown).not_to_have_count(0)
    for index, row in enumerate(rejects[: shown.count()]):
        expect(shown.nth(index).get_by_role("cell").last).to_have_text(row["reject_reason"])
        expect(shown.nth(index)).to_contain_text(row["source_row"])
    browser.screenshot(page, shots / "ui-silver-rejects-preview.png")


def test_bad_bronze_file_fails_the_run_naming_the_file_and_the_problem(page, local_stack, shots):
    """(d) A bronze file whose third line has one field too many: Materialize all on bronze_to_silver_job, the
    launched-run toast's View, and the run page shows Failure with the file's path and the problem; silver
    is left as it was."""
    from playwright.sync_api import expect

    bronze = local_stack.data_root / "bronze" / "bronze_data.csv"
    silver = local_stack.data_root / "silver" / "silver_data.csv"
    silver_before = silver.read_bytes() if silver.exists() else None
    lines = bronze.read_text(encoding="utf-8").splitlines(keepends=True)
    header_fields = len(next(csv.reader(lines[:1])))
    lines[2] = lines[2].rstrip("\r\n") + ",one field too many\n"
    bronze.write_text("".join(lines), encoding="utf-8")
    problem = f"line 3 has {header_fields + 1} fields but the header has {header_fields}"
    try:
        browser.open_job(page, local_stack.url, "bronze_to_silver_job")
        page.get_by_role("button", name=re.compile(r"Materialize all$")).click()
        toasts = page.get_by_role("region", name=re.compile(r"^Notifications"))
        toasts.get_by_role("listitem").filter(has_text="Launched run").get_by_role("link", name="View").click()
        assert browser.wait_for_run_end(page) == "Failure"

        failure = page.locator("[data-index]").filter(has_text="STEP_FAILURE")
        expect(failure).to_contain_text(f"Bronze file {bronze} cannot be used: {problem}")
        expect(failure).to_contain_text("bronze_orders")
        # The stack trace names paths of whichever machine ran this; the picture ends above it.
        stack_trace = page.get_by_text("Stack Trace:").first
        browser.screenshot(page, shots / "ui-run-failure-bad-bronze.png", cut_from=stack_trace)
        assert (silver.read_bytes() if silver.exists() else None) == silver_before
    finally:
        copy_sample_bronze(local_stack.data_root)


def test_materialize_all_from_the_asset_graph_is_serialized_like_the_jobs(page, local_stack, shots):
    """(b) Lineage → Materialize all while a medallion_job launched elsewhere (Tilt's button, the CLI) is
    queued: the ad-hoc run succeeds, and its silver and gold steps never overlap the job's (the layer pools)."""
    from playwright.sync_api import expect

    bronze = local_stack.data_root / "bronze" / "bronze_data.csv"
    header, *rows = (REPO_ROOT / "data" / "bronze" / "bronze_data.csv").read_text().splitlines(keepends=True)
    bronze.write_text(header + "".join(rows) * 3000)  # seconds per step: unserialized steps would overlap
    try:
        page.goto(local_stack.url)
        browser.link(page, "Lineage").click()
        materialize_all = page.get_by_role("button", name=re.compile(r"Materialize all$"))
        expect(materialize_all).to_be_enabled()
        job_run = local_stack.webserver().submit("medallion_job")
        materialize_all.click()
        toasts = page.get_by_role("region", name=re.compile(r"^Notifications"))
        toasts.get_by_role("listitem").filter(has_text="Launched run").get_by_role("link", name="View").click()
        expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
        ad_hoc_run = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
        assert browser.wait_for_run_end(page) == "Success"
        # The timeline shows silver waiting for the job's silver step; the log below names this machine's paths.
        browser.screenshot(page, shots / "ui-materialize-all-run.png", cut_from=page.get_by_placeholder("Filter…"))
        assert local_stack.webserver().wait(job_run, timeout=600).value == "SUCCESS"

        with instance_of(local_stack) as instance:
            ad_hoc, job = step_windows(instance, ad_hoc_run), step_windows(instance, job_run)
        assert set(ad_hoc) == set(job) == {"bronze_orders", "silver_orders", "gold_region_sales"}
        for step in ("silver_orders", "gold_region_sales"):
            assert not overlapping(ad_hoc[step], job[step]), f"two {step} writers overlapped"
    finally:
        copy_sample_bronze(local_stack.data_root)


def test_after_an_edit_and_a_reload_the_ui_marks_silver_and_gold_unsynced(
    page, local_stack, sample_materialized, shots
):
    """(c) Edit the silver asset's module in the served package, reload (what Tilt's live update does): the catalog
    pages of silver and gold show *Unsynced*, silver's because it has a new code version; bronze's does not."""
    from playwright.sync_api import expect

    module = local_stack.code_dir / "dagster_project" / "defs" / "assets" / "silver.py"
    source = module.read_text()
    assert '"cleaning bronze rows from {}' in source, "defs/assets/silver.py no longer logs this line; update the test"
    module.write_text(source.replace('"cleaning bronze rows from {}', '"cleaning bronze rows now from {}', 1))
    try:
        local_stack.webserver().reload()

        def asset_page(key: str):
            page.goto(local_stack.url)
            browser.link(page, "Catalog").click()
            browser.link(page, key).first.click()
            expect(page.get_by_text("Latest materialization")).to_be_visible()
            return page.get_by_text(re.compile(r"^Unsynced"))

        expect(asset_page("bronze_orders")).to_have_count(0)
        expect(asset_page("gold_region_sales")).to_be_visible()
        unsynced = asset_page("silver_orders")
        expect(unsynced).to_be_visible()
        unsynced.first.hover()
        expect(page.get_by_text("has a new code version")).to_be_visible()
        browser.screenshot(page, shots / "ui-silver-unsynced-after-edit.png")
    finally:
        module.write_text(source)
        local_stack.webserver().reload()
