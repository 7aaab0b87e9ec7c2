"""A client of the Dagster webserver over GraphQL: reload the code location, launch and re-execute runs, wait for
them, read their events and the asset graph. Plain HTTP: importing it imports no Dagster module."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

# The UI's NodePort and the code location's name (project.env's UI_NODE_PORT and CODE_LOCATION; tests check it).
DEFAULT_URL = "http://localhost:30000"
DEFAULT_LOCATION = "dagster-repo"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

RELOAD_MUTATION = """
mutation Reload($location: String!) {
  reloadRepositoryLocation(repositoryLocationName: $location) {
    __typename
    ... on WorkspaceLocationEntry {
      locationOrLoadError { __typename ... on PythonError { message causes { message } } }
    }
    ... on ReloadNotSupported { message }
    ... on RepositoryLocationNotFound { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS_QUERY = """
query RunEvents($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events { __typename ... on MessageEvent { message level stepKey timestamp } }
    }
    ... on PythonError { message }
    ... on RunNotFoundError { message }
  }
}
"""


LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""

REEXECUTE_MUTATION = """
mutation Reexecute($params: ReexecutionParams!) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""

ASSETS_QUERY = """
query Assets {
  assetNodes {
    assetKey { path }
    isMaterializable
    opVersion
    staleStatus
    staleCauses { category reason }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
    dependedByKeys { path }
  }
}
"""

LOCATION_QUERY = """
query Location {
  workspaceOrError {
    ... on Workspace { locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } } }
  }
}
"""

# The job Dagster runs for an asset selection that is not a job: *Materialize* in the asset graph or catalog.
ASSET_JOB = "__ASSET_JOB"
REPOSITORY = "__repository__"
# A launch right after the code-server pod restarted may find the webserver still holding the old server:
# reload until it answers (it says so in these words meanwhile), for at most this long.
RESTART_PATIENCE_SECONDS = 60
RESTARTING = ("Unreachable", "UNAVAILABLE", "No available client")

T = TypeVar("T")


def retried(attempt: Callable[[], T], worth_retrying: Callable[[Exception], bool], patience: float) -> T:
    """`attempt()`, again every second while what it raises is `worth_retrying`, for at most `patience` seconds;
    after that, or for any other error, the error itself."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return attempt()
        except Exception as error:
            if not worth_retrying(error) or time.monotonic() > deadline:
                raise
        time.sleep(1)


def restarting(error: Exception) -> bool:
    return isinstance(error, RuntimeError) and any(sign in str(error) for sign in RESTARTING)


class LocationNotLoaded(RuntimeError):
    """A reload the webserver answered with a load error (the code server's, or its own)."""


class Webserver:
    def __init__(self, url: str, location: str = DEFAULT_LOCATION, timeout: int = 60):
        self.url = url.rstrip("/")
        self.location = location
        self.timeout = timeout

    # dagster-graphql, and Dagster with it, loads only for submit and wait: `reload` runs in the pod after every
    # Tilt sync, and importing Dagster would add seconds to each edit.
    @cached_property
    def client(self) -> DagsterGraphQLClient:
        from dagster_graphql import DagsterGraphQLClient

        parts = urlsplit(self.url)
        return DagsterGraphQLClient(
            parts.hostname or "localhost",
            port_number=parts.port,
            use_https=parts.scheme == "https",
            timeout=self.timeout,
        )

    def run_url(self, run_id: str) -> str:
        # In the pod the URL is the in-cluster Service, which a browser cannot open: DAGSTER_UI_URL says where to.
        return f"{os.environ.get('DAGSTER_UI_URL', self.url).rstrip('/')}/runs/{run_id}"

    def graphql(self, query: str, variables: dict) -> dict:
        # A webserver that is being replaced (a helm upgrade rolling its pod) refuses connections for a few
        # seconds: the Tilt buttons and auto-refresh wait for it rather than fail.
        response = retried(
            lambda: requests.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=self.timeout
            ),
            lambda error: isinstance(error, requests.ConnectionError),
            RESTART_PATIENCE_SECONDS,
        )
        if response.status_code == 400:  # a query the schema refuses: its errors say why
            raise RuntimeError(f"GraphQL request refused: {response.text[:1000]}")
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    def reload(self, unreachable_for: float = 0) -> None:
        """Reload the code location; returns once the webserver has loaded the new definitions. A code server that
        does not answer yet (a restarted container still starting) is asked again for `unreachable_for` s."""

        def reload_once() -> None:
            result = self.graphql(RELOAD_MUTATION, {"location": self.location})["reloadRepositoryLocation"]
            loaded = result.get("locationOrLoadError") or {}
            if result["__typename"] == "WorkspaceLocationEntry" and loaded.get("__typename") == "RepositoryLocation":
                return
            causes = [cause["message"].strip() for cause in loaded.get("causes") or []]
            message = "\n".join([result.get("message") or loaded.get("message") or result["__typename"], *causes])
            raise LocationNotLoaded(f"reloading code location {self.location!r} failed: {message}")

        retried(reload_once, lambda error: isinstance(error, LocationNotLoaded) and restarting(error), unreachable_for)

    def materialize(
        self, assets: list[str], checks: list[tuple[str, str]] | None = None, tags: dict[str, str] | None = None
    ) -> str:
        """Launch a run of exactly these assets, as *Materialize* in the UI does, with their checks unless
        `checks` names (asset, check) pairs itself; returns the run id."""
        if checks is None:
            checks = [
                ("/".join(node["assetKey"]["path"]), check["name"])
                for node in self.assets()
                if "/".join(node["assetKey"]["path"]) in assets
                for check in (node.get("assetChecksOrError") or {}).get("checks", [])
            ]
        selector = {
            "repositoryLocationName": self.location,
            "repositoryName": REPOSITORY,
            "pipelineName": ASSET_JOB,
            "assetSelection": [{"path": [key]} for key in assets],
            "assetCheckSelection": [{"assetKey": {"path": [key]}, "name": name} for key, name in checks or []],
        }
        params = {
            "selector": selector,
            "mode": "default",
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        return self.after_code_server_restart(lambda: self._launched(
            self.graphql(LAUNCH_MUTATION, {"params": params})["launchPipelineExecution"],
            f"materializing {', '.join(assets) or 'no asset'}",
        ))  # fmt: skip

    def reexecute(self, run_id: str, strategy: str = "ALL_STEPS", tags: dict[str, str] | None = None) -> str:
        """Re-execute a run (ALL_STEPS, FROM_FAILURE or FROM_ASSET_FAILURE), as the run page's buttons do; the
        new run keeps the parent's tags, `tags` are added over them."""
        params = {"parentRunId": run_id, "strategy": strategy}
        if tags:
            params["extraTags"] = [{"key": k, "value": v} for k, v in tags.items()]
        return self.after_code_server_restart(lambda: self._launched(
            self.graphql(REEXECUTE_MUTATION, {"params": params})["launchPipelineReexecution"],
            f"re-executing run {run_id}",
        ))  # fmt: skip

    def assets(self) -> list[dict]:
        """Every asset node: key (path list), isMaterializable, opVersion (the code version), staleStatus,
        staleCauses,
        assetChecksOrError (its checks) and dependedByKeys."""
        return self.graphql(ASSETS_QUERY, {})["assetNodes"]

    def load_error(self) -> str | None:
        """The code location's load error as the UI shows it (a syntax error after a sync), or None."""
        entries = self.graphql(LOCATION_QUERY, {})["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            loaded = entry["locationOrLoadError"] or {}
            if entry["name"] == self.location and loaded.get("__typename") == "PythonError":
                return loaded["message"].strip()
        return None

    def after_code_server_restart(self, launch: Callable[[], str]) -> str:
        """Run `launch`; if the job or assets were not found, the webserver may have lost the code server (its pod
        restarted and the new one is not loaded yet): reload the location until it answers, then launch again.
        A name that really does not exist fails after that one reload."""
        try:
            return launch()
        except RuntimeError as error:
            if "NotFound" not in str(error):
                raise

        def reload_and_launch() -> str:
            self.reload()
            return launch()

        return retried(reload_and_launch, restarting, RESTART_PATIENCE_SECONDS)

    @staticmethod
    def _launched(result: dict, what: str) -> str:
        if result["__typename"] == "LaunchRunSuccess":
            return result["run"]["runId"]
        details = result.get("message") or "; ".join(e["message"] for e in result.get("errors") or [])
        raise RuntimeError(f"{what} failed: {result['__typename']}: {details}")

    def submit(self, job: str, tags: dict[str, str] | None = None) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        def launch() -> str:
            try:
                return self.client.submit_job_execution(
                    job, repository_location_name=self.location, repository_name=REPOSITORY, tags=tags
                )
            except DagsterGraphQLClientError as error:
                raise RuntimeError(f"submitting {job} failed: {error}") from error

        return self.after_code_server_restart(launch)

    def wait(self, run_id: str, timeout: float = 600, poll: float = 0.2) -> DagsterRunStatus:
        """The run's terminal status. Errors reaching the webserver or its storage (a webserver or Postgres pod
        restarting) are retried until the deadline: the run goes on meanwhile."""
        from dagster_graphql import DagsterGraphQLClientError

        deadline = time.monotonic() + timeout
        seen = "no answer"
        while True:
            try:
                status = self.client.get_run_status(run_id)
                if status.value in TERMINAL:
                    return status
                seen = status.value
            except (DagsterGraphQLClientError, requests.RequestException) as error:
                if error.args and error.args[0] == "PipelineRunNotFoundError":
                    raise RuntimeError(f"there is no run {run_id}") from error
                seen = f"unreachable ({str(error).splitlines()[0][:200]})"
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {seen} after {timeout:.0f}s: {self.run_url(run_id)}")
            time.sleep(poll)

    def events(self, run_id: str) -> list[dict]:
        """Every message event of the run, in order (level, message, stepKey, timestamp)."""
        events, cursor = [], None
        while True:
            result = self.graphql(RUN_EVENTS_QUERY, {"runId": run_id, "after": cursor})["logsForRun"]
            if result["__typename"] != "EventConnection":
                raise RuntimeError(f"cannot read events of run {run_id}: {result.get('message')}")
            events += [event for event in result["events"] if "message" in event]
            cursor = result["cursor"]
            if not result["hasMore"]:
                return events
