"""Debug runs: a run tagged medallion/debug=true waits for a debugger (VS Code's, over debugpy) before its first step.

The hook is the executor. Every job of the code location, the asset job behind *Materialize* and every
re-execution run their steps through the one executor set in repository.py, inside the run worker: the code
server's subprocess in run mode `inprocess` and under `make dev`, the run pod in `k8s-jobs`. Wrapping it starts
the debug server there before any step (and before any resource), so breakpoints set anywhere in
dagster_project/ are hit, and a run that waits holds no layer: the pools medallion/silver and medallion/gold
are claimed step by step, after the wait.

A run without the tag pays one dictionary lookup: debugpy is imported only inside `wait_for_debugger`, and no
port is opened.

The debug server listens on 127.0.0.1 only, in the run worker's own network namespace (the pod's). Nothing
else in the cluster can reach it; `kubectl port-forward` (which Tilt runs) and local tools can.

One debug session per port: the instance's queue starts one tagged run at a time (tag_concurrency_limits in
dagster_home/dagster.yaml and helm/values.yaml), and a run that still finds the port taken (a program outside
Dagster, a debug run launched around the queue) waits for it up to the same deadline. A debugger that never
comes fails the run at the deadline, before any step: every layer keeps its files, and *Re-execute* (which
keeps the tag) tries again once the debugger is ready. Continuing without the debugger would instead run past
the breakpoints the run was launched for and replace silver and gold unwatched.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping

from dagster import DagsterLogManager, Executor, ExecutorDefinition, Failure, in_process_executor

DEBUG_TAG = "medallion/debug"
# debugpy's and VS Code's usual port; project.env's DEBUG_PORT says the same (tests check it).
DEFAULT_PORT = 5678
# Long enough to click *Debug* and then start *Attach to Dagster run* in VS Code.
DEFAULT_WAIT_SECONDS = 300
LISTEN_HOST = "127.0.0.1"
# Run tag of Dagster's run retries: a retried debug run would wait for a debugger nobody is attaching.
MAX_RETRIES_TAG = "dagster/max_retries"
PORT_RETRY_SECONDS = 1.0


class DebuggerNotAttached(Failure):
    """The run's deadline passed with no debugger attached (or with its port still taken)."""


def wants_debugger(tags: Mapping[str, str]) -> bool:
    """Whether the run asks for a debugger; a tag value other than true or false is an error, not a no."""
    value = tags.get(DEBUG_TAG)
    if value is None or value.strip().lower() == "false":
        return False
    if value.strip().lower() == "true":
        return True
    raise Failure(description=f'run tag {DEBUG_TAG} must be "true" or "false", not {value!r}')


def _setting(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise Failure(description=f"{name}={raw!r} must be a whole number from {low} to {high}")
    return value


def debug_port() -> int:
    return _setting("DEBUG_PORT", DEFAULT_PORT, 1, 65535)


def wait_seconds() -> int:
    return _setting("DEBUG_WAIT_SECONDS", DEFAULT_WAIT_SECONDS, 1, 24 * 3600)


def wait_for_debugger(log: DagsterLogManager, port: int, timeout: float) -> float:
    """Start debugpy on LISTEN_HOST:port and block until a client has attached and sent its breakpoints
    (DAP configurationDone). Waits up to `timeout` for a taken port to be free, then up to `timeout` for the
    client; returns the seconds the client took, raises DebuggerNotAttached when either wait runs out."""
    # pydevd warns on every start that the interpreter's frozen stdlib modules hide their sources; breakpoints
    # in dagster_project are unaffected, so the warning would only add noise to the run's logs.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import debugpy

    port_deadline = time.monotonic() + timeout
    reported_busy = False
    while True:
        try:
            debugpy.listen((LISTEN_HOST, port))
            break
        except RuntimeError as error:  # debugpy's words for EADDRINUSE and the like
            if time.monotonic() + PORT_RETRY_SECONDS > port_deadline:
                raise DebuggerNotAttached(
                    description=f"Debug run: port {port} stayed in use for {timeout:.0f}s ({error}). Another "
                    "debug run or program holds it; nothing was run, every layer is unchanged. Stop it, or set "
                    "DEBUG_PORT to a free port, and re-execute this run."
                ) from error
            if not reported_busy:
                log.warning(f"Debug run: port {port} is in use ({error}); waiting up to {timeout:.0f}s for it.")
                reported_busy = True
            time.sleep(PORT_RETRY_SECONDS)

    listening = time.monotonic()
    log.warning(
        f"Debug run: waiting up to {timeout:.0f}s for a debugger on port {port} (run worker pid {os.getpid()}, "
        f"listening on {LISTEN_HOST} only). In VS Code run 'Attach to Dagster run'; the run starts its first "
        "step once the debugger is attached."
    )
    attached = threading.Thread(target=debugpy.wait_for_client, name="wait-for-debugger", daemon=True)
    attached.start()
    attached.join(timeout)
    if attached.is_alive():
        debugpy.wait_for_client.cancel()
        raise DebuggerNotAttached(
            description=f"Debug run: no debugger attached to port {port} within {timeout:.0f}s, so the run "
            "stopped before its first step; every layer is unchanged. Start VS Code's 'Attach to Dagster run' "
            "(with the port forwarded, see docs/debugging.md), then re-execute this run: the re-execution keeps "
            "the debug tag."
        )
    waited = time.monotonic() - listening
    log.info(f"Debug run: debugger attached on port {port} after {waited:.1f}s; running the steps.")
    return waited


class DebuggableExecutor(Executor):
    """The in-process executor, preceded for tagged runs by the wait for a debugger."""

    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator:
        if wants_debugger(plan_context.run_tags):
            plan_context.instance.add_run_tags(plan_context.run_id, {MAX_RETRIES_TAG: "0"})
            wait_for_debugger(plan_context.log, debug_port(), wait_seconds())
        yield from self._inner.execute(plan_context, execution_plan)


def _create(init_context) -> Executor:
    return DebuggableExecutor(in_process_executor.executor_creation_fn(init_context))


# Same name and run config as Dagster's in_process executor, so run configs written for it keep working.
debuggable_in_process_executor = ExecutorDefinition(
    name=in_process_executor.name,
    config_schema=in_process_executor.config_schema,
    executor_creation_fn=_create,
    description=(
        "Executes all steps in one process. A run tagged medallion/debug=true first waits for a debugger "
        "(debugpy, port DEBUG_PORT, default 5678) before its first step."
    ),
)
