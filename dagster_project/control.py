"""Drive a running Dagster webserver over GraphQL: reload code, submit a job, wait for it, print its logs.

Used by Tilt's buttons and live_update (inside the user-code pod), by the tests and by the benchmarks:

    python -m dagster_project.control reload
    python -m dagster_project.control submit medallion_job --wait
    python -m dagster_project.control wait RUN_ID
    python -m dagster_project.control logs RUN_ID

The webserver URL comes from --url, else DAGSTER_URL, else http://localhost:30000 (the NodePort). Run links
use DAGSTER_UI_URL when set: inside the pod --url is the in-cluster Service, which a browser cannot open.

`reload` talks GraphQL with plain requests and imports no Dagster module: it runs after every Tilt sync and
importing Dagster would add seconds to each edit. The other commands use dagster-graphql's client.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from dagster import DagsterRunStatus
    from dagster_graphql import DagsterGraphQLClient

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


class Webserver:
    def __init__(self, url: str, location: str = DEFAULT_LOCATION, timeout: int = 60):
        self.url = url.rstrip("/")
        self.location = location
        self.timeout = timeout

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
        return f"{os.environ.get('DAGSTER_UI_URL', self.url).rstrip('/')}/runs/{run_id}"

    def graphql(self, query: str, variables: dict) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=self.timeout
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    def reload(self) -> None:
        """Reload the code location; returns once the webserver has loaded the new definitions."""
        result = self.graphql(RELOAD_MUTATION, {"location": self.location})["reloadRepositoryLocation"]
        loaded = result.get("locationOrLoadError") or {}
        if result["__typename"] != "WorkspaceLocationEntry" or loaded.get("__typename") != "RepositoryLocation":
            causes = [cause["message"].strip() for cause in loaded.get("causes") or []]
            message = "\n".join([result.get("message") or loaded.get("message") or result["__typename"], *causes])
            raise RuntimeError(f"reloading code location {self.location!r} failed: {message}")

    def submit(self, job: str, tags: dict[str, str] | None = None) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        try:
            return self.client.submit_job_execution(
                job, repository_location_name=self.location, repository_name="__repository__", tags=tags
            )
        except DagsterGraphQLClientError as error:
            raise RuntimeError(f"submitting {job} failed: {error}") from error

    def wait(self, run_id: str, timeout: float = 600, poll: float = 0.2) -> DagsterRunStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = self.client.get_run_status(run_id)
            if status.value in TERMINAL:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status.value} after {timeout:.0f}s: {self.run_url(run_id)}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.control", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("DAGSTER_URL", DEFAULT_URL), help="Dagster webserver URL")
    parser.add_argument("--location", default=os.environ.get("CODE_LOCATION", DEFAULT_LOCATION))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reload", help="reload the code location and wait until it has loaded")
    submit = commands.add_parser("submit", help="submit a job; prints the run id and its URL")
    submit.add_argument("job")
    submit.add_argument("--wait", action="store_true", help="wait for the run and exit 1 unless it succeeds")
    submit.add_argument("--timeout", type=float, default=600)
    wait = commands.add_parser("wait", help="wait for a run; exit 0 only on SUCCESS")
    wait.add_argument("run_id")
    wait.add_argument("--timeout", type=float, default=600)
    logs = commands.add_parser("logs", help="print a run's event log messages")
    logs.add_argument("run_id")
    args = parser.parse_args(argv)

    server = Webserver(args.url, args.location)
    try:
        if args.command == "reload":
            started = time.perf_counter()
            server.reload()
            print(f"reloaded code location {args.location} in {time.perf_counter() - started:.2f}s")
            return 0
        if args.command == "logs":
            for event in server.events(args.run_id):
                print(f"{event['level']:<8} {event['stepKey'] or '-':<18} {event['message']}")
            return 0
        run_id = server.submit(args.job) if args.command == "submit" else args.run_id
        print(f"run {run_id}: {server.run_url(run_id)}", flush=True)
        if args.command == "submit" and not args.wait:
            return 0
        status = server.wait(run_id, timeout=args.timeout)
        print(f"run {run_id} finished: {status.value}")
        return 0 if status.value == "SUCCESS" else 1
    except (RuntimeError, TimeoutError, requests.RequestException) as error:
        print(f"error talking to Dagster at {args.url}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
