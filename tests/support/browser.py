"""The Dagster UI in a real Chromium, driven by Playwright the way a person uses it: clicks, menus and what the
page shows, never GraphQL. The browser is the system's Chromium (Debian `chromium`, or CHROMIUM=<binary>);
Playwright never downloads one. .ci/setup-browser.sh installs both.

Waits are on what the page shows and generous (a loaded 2-core machine renders slowly); nothing sleeps.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

from tests.support.tools import require_tool

ENABLE = "bash .ci/setup-browser.sh (Debian chromium and make install-browser)"
# How long a page may take to show something, and a run to end, on a loaded machine.
UI_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 300_000
VIEWPORT = {"width": 1400, "height": 900}
# Headless as root in a container, with nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The run page's header shows a run's end as an icon with one of these labels beside the status word.
RUN_END_ICONS = {"run_success": "Success", "run_failed": "Failure", "run_canceled": "Canceled"}


def chromium_binary() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def require_browser() -> str:
    """The Chromium binary; skips (or fails under MEDALLION_REQUIRE) without Playwright or Chromium."""
    require_tool("playwright", importlib.util.find_spec("playwright") is not None, f"no Playwright: {ENABLE}")
    binary = chromium_binary()
    require_tool("chromium", binary is not None, f"no chromium on PATH: {ENABLE}")
    return binary


def screenshot_dir(default: Path) -> Path:
    """`make screenshots` sets MEDALLION_SCREENSHOTS=docs/img; otherwise they go to pytest's temp directory."""
    directory = Path(os.environ.get("MEDALLION_SCREENSHOTS") or default)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page, path: Path, cut_from=None) -> None:
    """The page as a person sees it, without the hover tooltip of wherever the last click left the mouse.
    `cut_from`: a locator where the picture ends (what is below it does not belong in the docs)."""
    page.mouse.move(0, 0)
    clip = None
    if cut_from is not None and (box := cut_from.bounding_box()) and 0 < box["y"] < VIEWPORT["height"]:
        clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": box["y"]}
    page.screenshot(path=path, clip=clip)


def skip_community_dialog(page) -> None:
    """A fresh instance greets its first visitor with "Join the Dagster community"; a person clicks Skip."""
    from playwright.sync_api import expect

    dialog = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    expect(dialog).to_be_visible(timeout=UI_TIMEOUT_MS)
    dialog.get_by_role("button", name="Skip").click()
    expect(dialog).to_be_hidden()


def dismiss_tips_when_shown(page) -> None:
    """The asset graph shows a one-time tip over the canvas whenever it likes; dismiss it as a person would."""
    tip = page.get_by_text("Show and hide neighboring assets outside of selection")
    page.add_locator_handler(tip, lambda _: page.get_by_role("button", name="Dismiss").click())


def link(page, text: str):
    """The link showing `text`; the accessible name of many starts with their icon's label."""
    return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(text)}$"))


def open_job(page, base_url: str, job: str) -> None:
    """From the sidebar's Jobs list to the job's page."""
    page.goto(base_url)
    link(page, "Jobs").click()
    link(page, job).first.click()
    page.get_by_role("button", name=re.compile(r"Materialize all$")).wait_for()


def open_launchpad(page):
    """The menu next to Materialize all → Open launchpad; returns the launchpad dialog, config validated."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="arrow_drop_down").click()
    page.get_by_role("menuitem", name="Open launchpad").click()
    launchpad = page.get_by_role("dialog").filter(has_text="Launchpad")
    expect(launchpad.get_by_text("No errors")).to_be_visible()
    return launchpad


def wait_for_run_end(page) -> str:
    """On a run page: the header's status once the run has ended (Success, Failure or Canceled)."""
    icon = page.get_by_role("img", name=re.compile("^({})$".format("|".join(RUN_END_ICONS)))).first
    icon.wait_for(timeout=RUN_TIMEOUT_MS)
    return RUN_END_ICONS[icon.get_attribute("aria-label")]


def filter_log(page, text: str, *, debug: bool = False):
    """Type into the run log's filter box (ticking the hidden-by-default debug level first); returns the rows."""
    if debug:
        page.get_by_role("button", name=re.compile(r"\bLevels \(")).click()
        page.get_by_text("debug", exact=True).click()
        page.keyboard.press("Escape")
    page.get_by_placeholder("Filter…").fill(text)
    # Each event row of the virtualized log carries a data-index.
    return page.locator("[data-index]")
