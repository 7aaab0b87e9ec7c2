"""`python -m dagster_project.control`: reload the code location, launch runs (submit, materialize, reexecute,
refresh) and wait for them, print a run's logs. Tilt's buttons and live update run it in the pod (docs/dev-loop.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time

import requests

from dagster_project.contract.names import DEBUG_TAG, DEFAULT_DEBUG_PORT
from dagster_project.control.client import DEFAULT_LOCATION, DEFAULT_URL, Webserver
from dagster_project.control.refresh import SavedCodeError, check_saved_code, wait_until_served
from dagster_project.control.refresh import refresh as refresh_stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.control", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("DAGSTER_URL", DEFAULT_URL), help="Dagster webserver URL (env DAGSTER_URL)"
    )
    parser.add_argument("--location", default=os.environ.get("CODE_LOCATION", DEFAULT_LOCATION))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reload", help="reload the code location and wait until it has loaded")
    submit = commands.add_parser("submit", help="submit a job; prints the run id and its URL")
    submit.add_argument("job")
    wait = commands.add_parser("wait", help="wait for a run; exit 0 only on SUCCESS")
    wait.add_argument("run_id")
    wait.add_argument("--timeout", type=float, default=600)
    logs = commands.add_parser("logs", help="print a run's event log messages")
    logs.add_argument("run_id")
    materialize = commands.add_parser("materialize", help="launch a run of these assets, as Materialize in the UI")
    materialize.add_argument("assets", nargs="+")
    reexecute = commands.add_parser("reexecute", help="re-execute a run (all steps, or from its failure)")
    reexecute.add_argument("run_id")
    reexecute.add_argument("--from-failure", action="store_true")
    refresh = commands.add_parser("refresh", help="launch one run of exactly the stale or missing assets")
    refresh.add_argument("--source-digest", help="first wait for the synced files to have this digest (Tilt)")
    refresh.add_argument("--code-timeout", type=float, default=60, help="seconds to wait for the served code")
    for command in (submit, materialize, reexecute, refresh):
        command.add_argument("--wait", action="store_true", help="wait for the run and exit 1 unless it succeeds")
        command.add_argument("--timeout", type=float, default=600)
    for command in (submit, materialize, reexecute):
        command.add_argument(
            "--debug", action="store_true", help=f"tag the run {DEBUG_TAG}=true: it waits for a debugger first"
        )
    args = parser.parse_args(argv)
    tags = {DEBUG_TAG: "true"} if getattr(args, "debug", False) else None

    server = Webserver(args.url, args.location)
    try:
        if args.command == "reload":
            started = time.perf_counter()
            try:
                check_saved_code()
            except SavedCodeError as error:
                print(f"{error}\nnot reloaded: code location {args.location} keeps serving the last code that "
                      "loaded; save a fix to reload", file=sys.stderr)  # fmt: skip
                return 1
            server.reload(unreachable_for=120)
            # LOADED is not enough: the served code versions must be those of the files on disk.
            wait_until_served(server, None, timeout=30)
            print(f"reloaded code location {args.location} in {time.perf_counter() - started:.2f}s; "
                  "it serves the saved code")  # fmt: skip
            return 0
        if args.command == "logs":
            for event in server.events(args.run_id):
                print(f"{event['level']:<8} {event['stepKey'] or '-':<18} {event['message']}")
            return 0
        if args.command == "refresh":
            outcome = refresh_stale(server, args.source_digest, timeout=args.code_timeout)
            if outcome.run_id is None:
                print("nothing to refresh: every asset is up to date with its code and bronze")
                return 0
            verb = "already queued for" if outcome.already_queued else "refreshing"
            print(f"{verb} {', '.join(outcome.stale)}")
            run_id = outcome.run_id
        elif args.command == "submit":
            run_id = server.submit(args.job, tags=tags)
        elif args.command == "materialize":
            run_id = server.materialize(args.assets, tags=tags)
        elif args.command == "reexecute":
            run_id = server.reexecute(args.run_id, "FROM_FAILURE" if args.from_failure else "ALL_STEPS", tags)
        else:
            run_id = args.run_id
        print(f"run {run_id}: {server.run_url(run_id)}", flush=True)
        if tags:
            port = os.environ.get("DEBUG_PORT", str(DEFAULT_DEBUG_PORT))
            print(
                f"run {run_id} waits for a debugger on port {port} before its first step: in VS Code, Run and "
                "Debug > 'Attach to Dagster run'. Tilt forwards the port in run mode inprocess; in k8s-jobs "
                f"forward the run's pod first: kubectl port-forward job/dagster-run-{run_id} {port}:{port}",
                flush=True,
            )
        if args.command != "wait" and not args.wait:
            return 0
        status = server.wait(run_id, timeout=args.timeout)
        print(f"run {run_id} finished: {status.value}")
        return 0 if status.value == "SUCCESS" else 1
    except (RuntimeError, TimeoutError, requests.RequestException) as error:
        print(f"error talking to Dagster at {args.url}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
