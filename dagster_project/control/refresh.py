"""Refresh: one run of exactly the assets the UI shows as stale or missing, and what they feed, launched once the
webserver serves the code Tilt just synced (docs/dev-loop.md#what-an-edit-made-stale)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from dagster_project.contract.code_version import PACKAGE_DIR, code_version, versioned_modules

if TYPE_CHECKING:
    from dagster_project.control.client import Webserver

REFRESH_TAGS = {"medallion/refresh": "true"}
NEEDS_RUN = ("STALE", "MISSING")

QUEUED_REFRESH_QUERY = """
query QueuedRefresh($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags, statuses: [QUEUED, NOT_STARTED]}) {
    __typename
    ... on Runs { results { runId assetSelection { path } } }
    ... on Error { message }
  }
}
"""


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 of `sha256sum` over the package's *.py files, by sorted ./relative path: tilt/refresh.sh's."""
    lines = []
    for path in sorted(package_dir.rglob("*.py"), key=lambda p: p.relative_to(package_dir).as_posix().encode()):
        relative = path.relative_to(package_dir).as_posix()
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  ./{relative}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


class SavedCodeError(Exception):
    """A saved module does not compile: reloading would replace the last good code with a load error."""


def check_saved_code(package_dir: Path = PACKAGE_DIR) -> None:
    """Compiles every module of the package, as the code server's import would, without importing it."""
    import traceback

    for path in sorted(package_dir.rglob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as error:
            raise SavedCodeError("".join(traceback.format_exception_only(error)).rstrip()) from None


def stale_assets(nodes: list[dict]) -> list[str]:
    """Stale or missing assets and everything downstream of them. Dagster marks an asset stale when its own
    code or inputs changed; its downstream assets follow only once it is rebuilt (after a new bronze file,
    silver is stale, gold becomes stale when silver has new data). One run of the whole set leaves nothing
    stale behind."""
    by_key = {"/".join(node["assetKey"]["path"]): node for node in nodes}
    pending = [key for key, node in by_key.items() if node["isMaterializable"] and node["staleStatus"] in NEEDS_RUN]
    selected: set[str] = set()
    while pending:
        key = pending.pop()
        if key in selected or not by_key.get(key, {}).get("isMaterializable"):
            continue
        selected.add(key)
        pending.extend("/".join(down["path"]) for down in by_key[key].get("dependedByKeys") or [])
    return sorted(selected)


def wait_until_served(server: Webserver, digest: str | None, timeout: float, poll: float = 0.2) -> list[dict]:
    """Asset nodes once the webserver serves the code on disk (and disk holds the files with `digest`)."""
    deadline = time.monotonic() + timeout
    while digest and source_digest() != digest:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the files under {PACKAGE_DIR} never matched the laptop's (digest {digest[:12]})")
        time.sleep(poll)
    try:
        on_disk = {code_version(module) for module in versioned_modules()}
    except SyntaxError as error:
        raise RuntimeError(f"{error.filename}, line {error.lineno}: {error.msg}; nothing refreshed") from None
    while True:
        nodes = server.assets()
        served = {node["opVersion"] for node in nodes if node["isMaterializable"]}
        if served == on_disk:
            return nodes
        error = server.load_error()
        if error:
            raise RuntimeError(f"code location {server.location} does not load, nothing refreshed:\n{error}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"code location {server.location} still serves other code than {PACKAGE_DIR} after {timeout:.0f}s:"
                " did the reload fail? See the live update in the Tilt pane, or run `control reload`."
            )
        time.sleep(poll)


def queued_refresh(server: Webserver, stale: list[str]) -> str | None:
    """A refresh run still in the queue whose selection covers `stale`: it starts on the newest code."""
    tags = [{"key": key, "value": value} for key, value in REFRESH_TAGS.items()]
    result = server.graphql(QUEUED_REFRESH_QUERY, {"tags": tags})["runsOrError"]
    if result["__typename"] != "Runs":
        raise RuntimeError(f"cannot list queued runs: {result.get('message')}")
    for run in result["results"]:
        if set(stale) <= {"/".join(key["path"]) for key in run["assetSelection"] or []}:
            return run["runId"]
    return None


class Refresh(NamedTuple):
    stale: list[str]
    run_id: str | None  # the run that will bring them up to date; None when nothing is stale
    already_queued: bool  # that run was queued before: a queued run starts on the newest code


def refresh(server: Webserver, digest: str | None = None, timeout: float = 60) -> Refresh:
    stale = stale_assets(wait_until_served(server, digest, timeout))
    if not stale:
        return Refresh([], None, False)
    waiting = queued_refresh(server, stale)
    if waiting:
        return Refresh(stale, waiting, True)
    return Refresh(stale, server.materialize(stale, tags=REFRESH_TAGS), False)
